#include "cli/model_command.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/thread_pool.h"
#include "worker/engine/job_runner.h"
#include "worker/engine/model.h"
#include "worker/engine/transformer.h"

namespace proctor::cli {
namespace {

constexpr char kUsage[] =
    "usage: proctor model info MODEL\n"
    "       proctor model tokenize MODEL TEXT [--no-bos]\n"
    "       proctor model generate MODEL PROMPT [--max-tokens N] [--stop S]... [--threads N]\n"
    "       proctor model score MODEL CONTEXT CONTINUATION... [--threads N]\n";

int Usage(const std::string& why) {
  std::cerr << "proctor model: " << why << "\n" << kUsage;
  return 2;
}

struct Args {
  std::vector<std::string> positional;
  int max_tokens = 64;
  int threads = 1;
  bool bos = true;
  std::vector<std::string> stops;
};

bool ParseArgs(int argc, char** argv, Args* a, std::string* err) {
  for (int i = 2; i < argc; ++i) {
    const std::string s = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) {
        *err = s + " needs a value";
        return false;
      }
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (s == "--no-bos") {
      a->bos = false;
    } else if (s == "--max-tokens" || s == "--threads") {
      if (!value(&v)) return false;
      int n;
      if (!absl::SimpleAtoi(v, &n) || n <= 0) {
        *err = s + " needs a positive integer, got '" + v + "'";
        return false;
      }
      (s == "--threads" ? a->threads : a->max_tokens) = n;
    } else if (s == "--stop") {
      if (!value(&v)) return false;
      a->stops.push_back(v);
    } else if (s.size() > 2 && s.rfind("--", 0) == 0) {
      *err = "unknown flag " + s;
      return false;
    } else {
      a->positional.push_back(s);
    }
  }
  return true;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += absl::StrFormat("\\x%02x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

int Info(const engine::Model& m) {
  const engine::ModelConfig& c = m.config();
  std::cout << "file: " << m.path() << " (" << m.format() << ")\n";
  std::cout << "config: " << c.DebugString() << "\n";
  std::cout << "weights: " << m.WeightBytes() << " bytes mapped, format "
            << kernels::WeightFormatName(m.weights().layers.empty()
                                             ? m.weights().token_embd.format
                                             : m.weights().layers[0].wq.format)
            << " (layer 0 attn_q)\n";
  if (const engine::GgufFile* g = m.gguf(); g != nullptr) {
    std::map<std::string, int> counts;
    for (const auto& t : g->tensors()) counts[engine::GgmlTypeName(t.ggml_type)]++;
    std::cout << "gguf: v" << g->version() << ", " << g->metadata().size() << " keys, "
              << g->tensors().size() << " tensors:";
    for (const auto& [name, n] : counts) std::cout << " " << name << "x" << n;
    std::cout << "\n";
  }
  if (const engine::Tokenizer* t = m.tokenizer(); t != nullptr) {
    std::cout << "tokenizer: " << t->kind() << ", " << t->vocab_size() << " tokens, bos "
              << t->bos_id() << ", eos " << t->eos_id() << (t->add_bos() ? ", adds BOS" : "")
              << "\n";
  } else {
    std::cout << "tokenizer: none\n";
  }
  std::cout << "cpu: " << (kernels::HaveAvx2() ? "avx2+fma" : "portable") << " kernels\n";
  return 0;
}

}  // namespace

int RunModelCommand(int argc, char** argv) {
  if (argc < 2) return Usage("missing action");
  const std::string action = argv[1];
  Args a;
  std::string err;
  if (!ParseArgs(argc, argv, &a, &err)) return Usage(err);
  if (action != "info" && action != "tokenize" && action != "generate" && action != "score") {
    return Usage("unknown action '" + action + "'");
  }
  if (a.positional.empty()) return Usage("missing MODEL");
  auto loaded = engine::Model::Load(a.positional[0]);
  if (!loaded.ok()) {
    std::cerr << "proctor model: " << loaded.status().message() << "\n";
    return 1;
  }
  const engine::Model& m = **loaded;
  if (action == "info") return Info(m);
  const engine::Tokenizer* tok = m.tokenizer();
  if (tok == nullptr) {
    std::cerr << "proctor model: " << m.path() << " has no tokenizer\n";
    return 1;
  }
  if (action == "tokenize") {
    if (a.positional.size() != 2) return Usage("tokenize takes MODEL TEXT");
    const auto ids = a.bos ? tok->EncodeWithBos(a.positional[1]) : tok->Encode(a.positional[1]);
    for (size_t i = 0; i < ids.size(); ++i) {
      std::cout << ids[i] << "\t" << Escape(tok->TokenText(ids[i])) << "\n";
    }
    return 0;
  }
  kernels::ThreadPool pool(a.threads);
  engine::Transformer tf(&m.weights(), &pool);
  engine::JobRunner runner(&m, &tf, {});
  std::atomic<bool> cancelled{false};
  v1::Job job;
  if (action == "generate") {
    if (a.positional.size() != 2) return Usage("generate takes MODEL PROMPT");
    auto* g = job.add_requests()->mutable_generate();
    g->set_context(a.positional[1]);
    g->set_max_new_tokens(a.max_tokens);
    for (const std::string& s : a.stops) g->add_stop(s);
  } else {
    if (a.positional.size() < 3) return Usage("score takes MODEL CONTEXT CONTINUATION...");
    auto* ll = job.add_requests()->mutable_loglikelihood();
    ll->set_context(a.positional[1]);
    for (size_t i = 2; i < a.positional.size(); ++i) ll->add_continuations(a.positional[i]);
  }
  const auto start = std::chrono::steady_clock::now();
  v1::Output out;
  absl::Status s = runner.Run(
      job, {}, [&](v1::Output o) { out = std::move(o); }, cancelled);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!s.ok()) {
    std::cerr << "proctor model: " << s.message() << "\n";
    return 1;
  }
  if (out.has_generate()) {
    std::cout << a.positional[1] << out.generate().text() << "\n";
    std::cerr << absl::StrFormat("[%d tokens, finish %s, %.3f s]\n", out.generate().num_tokens(),
                                 v1::FinishReason_Name(out.generate().finish_reason()), secs);
  } else {
    for (int i = 0; i < out.loglikelihood().continuations_size(); ++i) {
      const auto& c = out.loglikelihood().continuations(i);
      std::cout << absl::StrFormat("%.6f\t%d\t%s\t%s\n", c.logprob(), c.num_tokens(),
                                   c.is_greedy() ? "greedy" : "-",
                                   Escape(a.positional[static_cast<size_t>(i) + 2]));
    }
  }
  return 0;
}

}  // namespace proctor::cli
