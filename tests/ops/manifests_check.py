#!/usr/bin/python3
"""Structural checks of Proctor's deploy/ manifests (tests/ops, CTest
ops_manifests_test): Kubernetes (kustomize), Slurm and systemd.

Checks that the kinds a deployment needs are there, that selectors, Service
target ports and ServiceMonitor ports line up, that the coordinator has gRPC
probes and a volume for its store, that workers request nvidia.com/gpu, that
every container sets resources, that Slurm scripts request GPUs, requeue and
drain on a signal, that Grafana provisioning names the datasource the
dashboards use, and — when the binaries are built — that every --flag the
manifests pass exists in proctor-coordinator / proctor-worker (--helpfull).

Needs python3-yaml (Debian); exits 77 (CTest: skipped) without it.
Usage: manifests_check.py DEPLOY_DIR [BIN_DIR]
"""
import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("SKIPPED: python3-yaml is not installed (scripts/install-deps)")
    sys.exit(77)

failures = []


def fail(message):
    failures.append(message)


def load_all(path):
    with open(path) as f:
        try:
            return [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            fail("%s: invalid YAML: %s" % (path, e))
            return []


def check_kustomization(directory, docs_by_kind):
    path = os.path.join(directory, "kustomization.yaml")
    if not os.path.exists(path):
        fail("%s: missing" % path)
        return
    (k,) = load_all(path) or [{}]
    for resource in k.get("resources", []):
        target = os.path.join(directory, resource)
        if os.path.isdir(target):
            check_kustomization(target, docs_by_kind)
        elif not os.path.isfile(target):
            fail("%s: resource %s does not exist" % (path, resource))
        else:
            for d in load_all(target):
                if "kind" not in d or "apiVersion" not in d or "metadata" not in d:
                    fail("%s: document without kind/apiVersion/metadata" % target)
                    continue
                docs_by_kind.setdefault(d["kind"], []).append((target, d))
    for generator in k.get("configMapGenerator", []):
        for f in generator.get("files", []):
            f = f.split("=", 1)[-1]
            if not os.path.isfile(os.path.join(directory, f)):
                fail("%s: configMapGenerator %s: file %s does not exist"
                     % (path, generator.get("name"), f))


def pod_spec(workload):
    return workload["spec"]["template"]["spec"]


def container_flags(container):
    return [a.split("=", 1)[0] for a in container.get("command", []) + container.get("args", [])
            if a.startswith("--")]


def check_workloads(docs):
    workloads = docs.get("StatefulSet", []) + docs.get("Deployment", [])
    services = docs.get("Service", [])
    flags = {"proctor-coordinator": set(), "proctor-worker": set()}
    for path, w in workloads:
        name = w["metadata"]["name"]
        selector = w["spec"]["selector"]["matchLabels"]
        labels = w["spec"]["template"]["metadata"]["labels"]
        for key, value in selector.items():
            if labels.get(key) != value:
                fail("%s: %s selector %s=%s does not match its pod labels" % (path, name, key, value))
        volumes = {v["name"] for v in pod_spec(w).get("volumes", [])}
        volumes |= {c["metadata"]["name"] for c in w["spec"].get("volumeClaimTemplates", [])}
        for c in pod_spec(w)["containers"]:
            where = "%s: %s/%s" % (path, name, c["name"])
            resources = c.get("resources", {})
            if not resources.get("requests") or "memory" not in resources.get("limits", {}):
                fail("%s: needs resources.requests and a memory limit" % where)
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    fail("%s: volumeMount %s has no volume" % (where, m["name"]))
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            for probe_kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = c.get(probe_kind)
                if not probe:
                    continue
                for handler in ("grpc", "httpGet", "tcpSocket"):
                    if handler in probe:
                        port = probe[handler]["port"]
                        if port not in ports and port not in ports.values():
                            fail("%s: %s port %s is not a container port" % (where, probe_kind, port))
            binary = os.path.basename((c.get("command") or [""])[0])
            if binary in flags:
                flags[binary] |= {(path, f) for f in container_flags(c)}
            if binary == "proctor-coordinator":
                if not all(c.get(p, {}).get("grpc") for p in ("livenessProbe", "readinessProbe")):
                    fail("%s: the coordinator needs grpc liveness and readiness probes" % where)
                if w["kind"] != "StatefulSet" or not w["spec"].get("volumeClaimTemplates"):
                    fail("%s: the coordinator must be a StatefulSet with a volume claim" % where)
                store = [a for a in c.get("args", []) if a.startswith("--store=")]
                mounts = [m["mountPath"] for m in c.get("volumeMounts", [])
                          if m["name"] in {v["metadata"]["name"]
                                           for v in w["spec"].get("volumeClaimTemplates", [])}]
                if not store or not any(store[0][len("--store="):].startswith(m + "/") for m in mounts):
                    fail("%s: --store must lie on the persistent volume" % where)
                if w["spec"].get("replicas", 1) != 1:
                    fail("%s: exactly one coordinator replica (single writer)" % where)
            if binary == "proctor-worker":
                for part in ("requests", "limits"):
                    if "nvidia.com/gpu" not in resources.get(part, {}):
                        fail("%s: workers must %s nvidia.com/gpu" % (where, part))
                if not c.get("livenessProbe"):
                    fail("%s: workers need a liveness probe" % where)
    # Services select some workload and target its named ports.
    for path, s in services:
        selector = s["spec"].get("selector", {})
        matches = [w for _, w in workloads
                   if all(w["spec"]["template"]["metadata"]["labels"].get(k) == v
                          for k, v in selector.items())]
        if not matches:
            fail("%s: Service %s selects no workload" % (path, s["metadata"]["name"]))
            continue
        names = {p.get("name") for w in matches for c in pod_spec(w)["containers"]
                 for p in c.get("ports", [])}
        for p in s["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            if isinstance(target, str) and target not in names:
                fail("%s: Service %s targetPort %s is not a container port"
                     % (path, s["metadata"]["name"], target))
    for path, m in docs.get("ServiceMonitor", []):
        selector = m["spec"]["selector"]["matchLabels"]
        selected = [s for _, s in services
                    if all(s["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())]
        if not selected:
            fail("%s: ServiceMonitor %s selects no Service" % (path, m["metadata"]["name"]))
        ports = {p.get("name") for s in selected for p in s["spec"]["ports"]}
        for e in m["spec"]["endpoints"]:
            if e["port"] not in ports:
                fail("%s: ServiceMonitor endpoint port %s is not a Service port" % (path, e["port"]))
    for sts_path, sts in docs.get("StatefulSet", []):
        governing = [s for _, s in services if s["metadata"]["name"] == sts["spec"]["serviceName"]]
        if not governing or governing[0]["spec"].get("clusterIP") != "None":
            fail("%s: serviceName %s must be a headless Service" % (sts_path, sts["spec"]["serviceName"]))
    return flags


def continuation_block(text, marker):
    """The shell/systemd command starting at the line holding `marker`."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if marker in line and not line.lstrip().startswith("#"):
            block = [line]
            while block[-1].rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                block.append(lines[i])
            return "\n".join(block)
    return ""


def flags_in(block):
    return set(re.findall(r"(--[a-z_]+)(?:=|\s|$)", block))


def check_slurm(directory, flags):
    scripts = sorted(f for f in os.listdir(directory) if f.endswith(".sbatch"))
    if not scripts:
        fail("%s: no sbatch scripts" % directory)
    for name in scripts:
        path = os.path.join(directory, name)
        with open(path) as f:
            text = f.read()
        sbatch = dict(re.findall(r"^#SBATCH\s+(--[a-z-]+)(?:=(\S+))?", text, re.M))
        if not re.match(r"gpu:\d+$", sbatch.get("--gres", "")):
            fail("%s: needs #SBATCH --gres=gpu:N" % path)
        if "--requeue" not in sbatch:
            fail("%s: needs #SBATCH --requeue" % path)
        if not re.match(r"B:TERM@\d+$", sbatch.get("--signal", "")):
            fail("%s: needs #SBATCH --signal=B:TERM@<seconds> (drain)" % path)
        if "--array" not in sbatch:
            fail("%s: needs #SBATCH --array" % path)
        block = continuation_block(text, "/proctor-worker\"")
        if block:
            flags["proctor-worker"] |= {(path, f) for f in flags_in(block)}
            if "trap" not in text:
                fail("%s: must forward the drain signal to the worker (trap)" % path)


def check_systemd(directory, flags):
    for name, binary in (("proctor-coordinator.service", "proctor-coordinator"),
                         ("proctor-worker@.service", "proctor-worker")):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            fail("%s: missing" % path)
            continue
        with open(path) as f:
            text = f.read()
        for section in ("[Unit]", "[Service]", "[Install]"):
            if section not in text:
                fail("%s: no %s section" % (path, section))
        block = continuation_block(text, "ExecStart=/usr/local/bin/" + binary)
        if not block:
            fail("%s: no ExecStart of %s" % (path, binary))
        flags[binary] |= {(path, f) for f in flags_in(block)}
        if "KillSignal=SIGTERM" not in text:
            fail("%s: must stop with SIGTERM (drain / clean shutdown)" % path)


def check_grafana(directory):
    """Provisioning parses; the datasource uid is the one the dashboards use."""
    import json
    uids = set()
    for path in (os.path.join(directory, "provisioning", "datasources", "proctor.yml"),
                 os.path.join(directory, "provisioning", "dashboards", "proctor.yml")):
        docs = load_all(path) if os.path.isfile(path) else []
        if not docs:
            fail("%s: missing or empty" % path)
            continue
        for ds in docs[0].get("datasources", []):
            uids.add(ds.get("uid"))
            if ds.get("type") != "prometheus":
                fail("%s: datasource %s is not prometheus" % (path, ds.get("name")))
        for provider in docs[0].get("providers", []):
            if provider.get("type") != "file" or not provider.get("options", {}).get("path"):
                fail("%s: provider %s must be a file provider with a path"
                     % (path, provider.get("name")))
    dashboards = sorted(f for f in os.listdir(os.path.join(directory, "dashboards"))
                        if f.endswith(".json"))
    if not dashboards:
        fail("%s: no dashboards" % directory)
    for name in dashboards:
        with open(os.path.join(directory, "dashboards", name)) as f:
            text = f.read()
        used = set(re.findall(r'"uid": "([^"]+)"', text)) & {"proctor-prometheus"}
        if not used or not used <= uids:
            fail("%s: its datasource uid is not provisioned (%s)" % (name, sorted(uids)))
        json.loads(text)


def check_flags_exist(bin_dir, flags):
    for binary, uses in sorted(flags.items()):
        exe = os.path.join(bin_dir, binary) if bin_dir else ""
        if not exe or not os.access(exe, os.X_OK):
            print("SKIPPED: %s not built; its %d flag uses are not checked" % (binary, len(uses)))
            continue
        out = subprocess.run([exe, "--helpfull"], capture_output=True, text=True, timeout=30)
        known = set(re.findall(r"^\s+(--[a-z_0-9]+) \(", out.stdout + out.stderr, re.M))
        if not known:
            fail("%s --helpfull listed no flags" % exe)
            continue
        for path, flag in sorted(uses):
            if flag not in known:
                fail("%s: %s has no flag %s" % (path, binary, flag))
        print("%s: %d flag uses checked" % (binary, len(uses)))


def main():
    deploy = sys.argv[1]
    bin_dir = sys.argv[2] if len(sys.argv) > 2 else ""
    docs = {}
    check_kustomization(deploy, docs)
    for kind in ("Namespace", "StatefulSet", "Deployment", "Service", "ServiceMonitor"):
        if kind not in docs:
            fail("no %s in the kustomization" % kind)
    flags = check_workloads(docs) if not failures else {"proctor-coordinator": set(),
                                                         "proctor-worker": set()}
    check_slurm(os.path.join(deploy, "slurm"), flags)
    check_systemd(os.path.join(deploy, "systemd"), flags)
    check_grafana(os.path.join(deploy, "grafana"))
    check_flags_exist(bin_dir, flags)
    print("kinds: %s" % ", ".join("%s x%d" % (k, len(v)) for k, v in sorted(docs.items())))
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
