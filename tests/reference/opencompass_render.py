"""Renders prompts with OpenCompass's own template code, without its heavy deps.

OpenCompass (https://github.com/open-compass/opencompass, Apache-2.0) is read
from an unpacked PyPI sdist (`pip download opencompass==0.3.0 --no-deps
--no-binary :all:`); nothing of it is copied into Proctor. Its prompt code
(PromptTemplate, PromptList, BaseRetriever.generate_ice, the base-model branch
of LMTemplateParser.parse_template) is imported from that tree as is; the
modules it imports but does not use for rendering (torch, mmengine, datasets,
transformers, the registries) are replaced by inert stand-ins.

Used by opencompass_templates.py (scripts/check-templates).
"""

import importlib.abc
import importlib.util
import os
import sys
import types

# Modules loaded from the OpenCompass tree; every other opencompass.* module
# becomes a stub whose attributes are named placeholders.
_REAL = {
    'opencompass.utils.prompt': 'utils/prompt.py',
    'opencompass.utils.types': 'utils/types.py',
    'opencompass.openicl.icl_prompt_template': 'openicl/icl_prompt_template.py',
    'opencompass.openicl.icl_retriever.icl_base_retriever':
        'openicl/icl_retriever/icl_base_retriever.py',
    'opencompass.models.base': 'models/base.py',
}


class Placeholder:
    """Stands for a class a config names but rendering never calls."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f'<{self.name}>'

    def __call__(self, *args, **kwargs):
        return self


def _stub_module(name):
    mod = types.ModuleType(name)
    mod.__path__ = []

    def getattr_(attr):
        if attr.startswith('__'):
            raise AttributeError(attr)
        return Placeholder(attr)

    mod.__getattr__ = getattr_
    return mod


class _Registry:

    def register_module(self, *args, **kwargs):
        if args and callable(args[0]) and not kwargs:
            return args[0]
        return lambda cls: cls


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):

    def __init__(self, root):
        self.root = root

    def find_spec(self, fullname, path=None, target=None):
        if fullname in _REAL:
            return importlib.util.spec_from_file_location(
                fullname, os.path.join(self.root, _REAL[fullname]))
        if fullname == 'opencompass' or fullname.startswith('opencompass.'):
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        if spec.name == 'opencompass.registry':
            mod = _stub_module(spec.name)
            mod.__getattr__ = lambda attr: _Registry()
            return mod
        return _stub_module(spec.name)

    def exec_module(self, module):
        pass


def _stub_third_party():
    class ConfigDict(dict):
        pass

    class _ReadBase:

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    stubs = {
        'mmengine': {'dist': types.SimpleNamespace(is_main_process=lambda: True)},
        'mmengine.config': {'ConfigDict': ConfigDict, 'Config': dict,
                            'read_base': _ReadBase},
        'mmengine.dist': {'is_main_process': lambda: True},
        'torch': {},
        'datasets': {'Dataset': list, 'DatasetDict': dict},
        'transformers': {},
    }
    for name, attrs in stubs.items():
        if name in sys.modules and not isinstance(sys.modules[name], types.ModuleType):
            continue
        mod = _stub_module(name)
        for k, v in attrs.items():
            setattr(mod, k, v)
        sys.modules[name] = mod


_loaded_root = None


def load(root):
    """Makes the OpenCompass package at `root` (the `opencompass/` folder of
    the sdist) importable for rendering. Idempotent."""
    global _loaded_root
    if _loaded_root == root:
        return
    if _loaded_root is not None:
        raise RuntimeError('a different OpenCompass tree is already loaded')
    _stub_third_party()
    sys.meta_path.insert(0, _Finder(root))
    _loaded_root = root


def read_config(root, relpath):
    """Executes a dataset config file (relative to configs/datasets/) and
    returns its module namespace. `from ..x import y` inside read_base()
    blocks are not followed."""
    path = os.path.join(root, 'configs', 'datasets', relpath)
    with open(path, encoding='utf-8') as f:
        source = f.read()
    ns = {'__name__': 'oc_config', '__file__': path}
    exec(compile(source, path, 'exec'), ns)  # noqa: S102 - trusted reference file
    return ns


def _template(cfg):
    from opencompass.openicl.icl_prompt_template import PromptTemplate
    if cfg is None:
        return None
    cfg = dict(cfg)
    cfg.pop('type', None)
    return PromptTemplate(**cfg)


def _parse(prompt, mode):
    from opencompass.models.base import LMTemplateParser
    return LMTemplateParser(None).parse_template(prompt, mode=mode)


def _ice(infer_cfg, shots, output_column):
    """In-context examples as BaseRetriever.generate_ice builds them (a
    PromptList when the ice template has rounds, else a string)."""
    from opencompass.openicl.icl_retriever.icl_base_retriever import BaseRetriever
    ice_template = _template(infer_cfg.get('ice_template'))
    if not shots:
        return '', ice_template
    retriever = BaseRetriever.__new__(BaseRetriever)
    rcfg = infer_cfg.get('retriever', {})
    retriever.ice_separator = rcfg.get('ice_separator', '\n')
    retriever.ice_eos_token = rcfg.get('ice_eos_token', '\n')
    retriever.index_ds = shots
    retriever.dataset_reader = types.SimpleNamespace(output_column=output_column)
    ice = retriever.generate_ice(list(range(len(shots))), ice_template=ice_template)
    return ice, ice_template


def render_ppl(dataset_cfg, entry, shots=()):
    """{label: full text} for one test entry of a PPL config, as
    PPLInferencer hands them to a base model (no meta template)."""
    infer_cfg = dataset_cfg['infer_cfg']
    output_column = dataset_cfg['reader_cfg']['output_column']
    ice, ice_template = _ice(infer_cfg, list(shots), output_column)
    prompt_template = _template(infer_cfg.get('prompt_template'))
    tmpl = prompt_template if prompt_template is not None else ice_template
    out = {}
    for label in tmpl.template.keys():
        if prompt_template is not None and ice_template is not None:
            item = prompt_template.generate_label_prompt_item(entry, ice, label)
        elif ice_template is not None:
            item = ice_template.generate_label_prompt_item(entry, ice, label)
        else:
            item = prompt_template.generate_label_prompt_item(entry, ice, label)
        out[label] = _parse(item, 'ppl')
    return out


def render_gen(dataset_cfg, entry, shots=()):
    """The prompt text of one test entry of a Gen config (base model)."""
    infer_cfg = dataset_cfg['infer_cfg']
    output_column = dataset_cfg['reader_cfg'].get('output_column')
    ice, ice_template = _ice(infer_cfg, list(shots), output_column)
    prompt_template = _template(infer_cfg.get('prompt_template'))
    tmpl = prompt_template if prompt_template is not None else ice_template
    item = tmpl.generate_item(entry, output_field=output_column,
                              ice_field_replace_token=ice)
    return _parse(item, 'gen')
