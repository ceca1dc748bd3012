"""Reading YAML that a user (or anyone who can write a file a user opens) supplies: bounded, strict
and with line numbers.

PyYAML's safe loader is safe against code execution, not against size: a few hundred bytes of nested
anchors and aliases (an "alias bomb", YAML's billion laughs) describe a value with billions of
elements. The loader shares aliased objects, so loading is cheap, but every later walk of the value
(merging layers, validating, formatting an error message) pays the full expansion: it hangs or ends
in MemoryError. So this reader bounds, before anything walks the value:

* the file: at most :data:`MAX_BYTES` (recipes and run configs are a few KB);
* the value as it would be written out with every alias expanded: at most :data:`MAX_NODES` nodes;
* the nesting: at most :data:`MAX_DEPTH` levels (PyYAML's composer recurses once per level).

It also refuses what YAML itself lets pass silently: a key given twice in one mapping (YAML 1.1
loaders keep the later value) is an error naming the key and both lines. Every problem is one
:class:`~cnnzoo.errors.ConfigError` line naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, short_text
from ..paths import describe

# A resolved config.yaml is under 1 KB, the largest recipe under 1.5 KB (with its comments): 1 MiB
# is far beyond any honest config file.
MAX_BYTES = 1 << 20
# A full configuration has about 60 keys; model.kwargs may add a few short lists. 100,000 values
# after alias expansion leave room for any honest config and bound the cost of every later walk.
MAX_NODES = 100_000
# The schema nests three levels (data.augment.flip); model.kwargs values may nest a few more.
MAX_DEPTH = 64


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts expanded nodes and depth while composing, refuses duplicate keys, and
    records the line of every mapping key under its dotted path."""

    def __init__(self, text: str, name: str, show_lines: bool) -> None:
        super().__init__(text)
        self.name = name
        self.show_lines = show_lines
        self.lines: dict[str, str] = {}  # dotted key -> "file:line"
        self._path: list[str] = []
        self._expanded = 0

    def _fail(self, line: int | None, message: str) -> ConfigError:
        return ConfigError(f"{self.name}{f':{line}' if line and self.show_lines else ''}: {message}")

    def _count(self, n: int, line: int) -> None:
        self._expanded += n
        if self._expanded > MAX_NODES:
            raise self._fail(line, f"YAML expands to more than {MAX_NODES:,} values (nested aliases: an 'alias "
                                   "bomb'?); a config file holds a few hundred at most")

    def compose_node(self, parent: Any, index: Any) -> Any:
        line = self.peek_event().start_mark.line + 1
        if isinstance(parent, yaml.MappingNode) and isinstance(index, yaml.Node):  # a value under a key
            segment = str(index.value) if isinstance(index, yaml.ScalarNode) else "?"
            dotted = ".".join([p for p in self._path if p] + [segment])
            self.lines.setdefault(dotted, f"{self.name}:{index.start_mark.line + 1}")
        else:  # the document, a key, or an item of a list
            segment = "" if parent is None or index is None else str(index)
        if self.check_event(yaml.AliasEvent):
            node: Any = super().compose_node(parent, index)
            weight = getattr(node, "cnnzoo_weight", None)
            if weight is None:
                raise self._fail(line, "an alias refers to the value that contains it (a recursive YAML value)")
            self._count(weight, line)
            return node
        if len(self._path) >= MAX_DEPTH:
            raise self._fail(line, f"YAML nests deeper than {MAX_DEPTH} levels")
        self._path.append(segment)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._path.pop()
        if isinstance(node, yaml.SequenceNode):
            weight = 1 + sum(child.cnnzoo_weight for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            weight = 1 + sum(k.cnnzoo_weight + v.cnnzoo_weight for k, v in node.value)
        else:
            weight = 1
        node.cnnzoo_weight = weight
        self._count(1, line)
        return node

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], Any] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            ident = (key_node.tag, key_node.value)
            if ident in seen:
                first = seen[ident].start_mark.line + 1
                dotted = ".".join([p for p in self._path if p] + [short_text(str(key_node.value), 40)])
                raise self._fail(key_node.start_mark.line + 1,
                                 f"key '{dotted}' is given twice (first at {self.name}:{first}); keep one")
            seen[ident] = key_node
        return node


def parse_yaml(text: str, name: str, show_lines: bool = True) -> tuple[Any, dict[str, str]]:
    """The value of one YAML document and the 'file:line' of each dotted mapping key in it.
    ``name`` is what messages call the text (a file name, ``--set KEY``); ``show_lines=False`` for
    a one-line text, where a line number says nothing."""
    loader = None
    try:
        loader = _Loader(text, name, show_lines)  # the reader checks the characters here already
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark and show_lines else ""
        problem = short_text(str(e.problem or e.context or "invalid YAML"))
        raise ConfigError(f"{name}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{name}: invalid YAML: {short_text(str(e).splitlines()[0] if str(e) else '')}") from None
    except (ValueError, OverflowError) as e:
        # int('1' * 5000) refuses to convert (Python's digit limit); say so instead of a traceback.
        raise ConfigError(f"{name}: a value cannot be read ({short_text(str(e))})") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, loader.lines


def read_text_file(path: Path) -> str:
    """A config file's text, at most :data:`MAX_BYTES`, as UTF-8 (ConfigError naming the file else)."""
    kind = describe(path)  # stat, not open: a named pipe would block the read below forever
    if kind not in ("is a file", "is a folder", "does not exist"):
        raise ConfigError(f"config file {path} {kind}; give a YAML file")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a YAML file (did you mean {path}/config.yaml?)") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_BYTES >> 20} MiB, too large for a config file "
                          "(recipes are a few KB); is it the right file?")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"cannot read config file {path}: not UTF-8 text (byte {e.start})") from None


def read_yaml_file(path: Path) -> tuple[Any, dict[str, str]]:
    """:func:`parse_yaml` of a file, read with the size bound."""
    return parse_yaml(read_text_file(path), str(path))
