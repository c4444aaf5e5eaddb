"""Structure ratchets over tfprune/ (AST only, nothing imported): each list may only shrink.

Rules (DESIGN.md "Layers", STYLE.md sections 1, 8 and 15; issue 23 items 6 and 7):

(a) a name another module uses is public in its module: no ``from tfprune.x import _y`` and no
    ``module._y`` on a tfprune module, unless ``_y`` is a private submodule of the importer's
    own package (``export/tflite_file.py`` may use ``tfprune.export._io``). Attribute access on
    objects (``self._y``) is out of scope.
(b) modules of at most 400 lines;
(c) functions of at most 50 code lines (blank lines, comment lines and the docstring not counted);
(d) functions of at most 8 parameters (``self``/``cls``, ``*args`` and ``**kwargs`` not counted;
    keyword-only parameters count);
(e) tests mirror modules: each module with behaviour (a top-level function or class) has
    ``tests/<package>/test_<module>.py`` (a leading underscore dropped: ``export/_io.py`` ->
    ``tests/export/test_io.py``; a package's ``__init__.py`` -> ``tests/<package>/test_<package>.py``;
    ``tfprune/__init__.py`` is tests/test_public_api.py's).

Each rule has an allow-list of today's offenders (its length is the rule's number). A new
offender fails with the rule and its name; an entry that no longer offends fails too, so that
the list is lowered (the ratchet only goes down). Fix the code rather than extend a list.
``python tests/test_structure.py`` prints today's offenders in the lists' form.
"""

from __future__ import annotations

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1] / "tfprune"
TESTS = ROOT.parent / "tests"

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
MAX_PARAMETERS = 8

# (a) "user module -> owner.name" for each private name used across modules.
ALLOWED_PRIVATE_USES: set[str] = set()  # 0: every cross-module name is public
# (b) module paths (relative to tfprune/).
ALLOWED_LONG_MODULES: set[str] = set()  # 0: every module is at most 400 lines
# (c), (d) "path::qualified.name".
ALLOWED_LONG_FUNCTIONS: set[str] = set()  # 0: every function is at most 50 code lines
ALLOWED_WIDE_FUNCTIONS: set[str] = set()  # 0: every function takes at most 8 parameters
# (e) module paths (relative to tfprune/) with no mirror test file.
ALLOWED_UNMIRRORED: set[str] = set()  # 0: every module with behaviour has its mirror file


# ------------------------------------------------------------------------------ the walk
def _sources():
    return sorted(ROOT.rglob("*.py"))


def _rel(path) -> str:
    return path.relative_to(ROOT).as_posix()


def _module_name(path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path) -> str:
    """The package a module's relative imports resolve in."""
    return ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])


MODULES = {_module_name(p): p for p in _sources()}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _own_private_module(user: str, owner: str, name: str) -> bool:
    """``owner.name`` is a private submodule of a package that contains ``user``."""
    return f"{owner}.{name}" in MODULES and (user == owner or user.startswith(owner + "."))


def _private_uses(path, tree) -> list[str]:
    """``"user -> owner.name"`` for each private tfprune name ``path`` uses from elsewhere."""
    user, package = _module_name(path), _package_of(path)
    aliases: dict[str, str] = {}  # local name -> tfprune module it stands for
    found = []

    def use(owner, name):
        if owner != user and _is_private(name) and not _own_private_module(user, owner, name):
            found.append(f"{user} -> {owner}.{name}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tfprune"):
                    parts = alias.name.split(".")
                    for i in range(1, len(parts)):
                        use(".".join(parts[:i]), parts[i])
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases[parts[0]] = parts[0]
        elif isinstance(node, ast.ImportFrom):
            owner = _absolute(node, package)
            if owner != "tfprune" and not owner.startswith("tfprune."):
                continue
            parts = owner.split(".")
            for i in range(1, len(parts)):  # `from tfprune.export.atomic import write_bytes`
                use(".".join(parts[:i]), parts[i])
            for alias in node.names:
                use(owner, alias.name)
                if f"{owner}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{owner}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            chain, value = [], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in aliases:
                owner = ".".join([aliases[value.id], *reversed(chain)])
                if owner in MODULES:
                    use(owner, node.attr)
    return found


def _functions(tree):
    """``(qualified name, node)`` of every function, methods and nested functions included."""
    out = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((prefix + child.name, child))
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def _code_lines(fn, lines) -> int:
    skip = set()
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        skip = set(range(body[0].lineno, body[0].end_lineno + 1))
    count = 0
    for n in range(fn.lineno, fn.end_lineno + 1):
        text = lines[n - 1].strip()
        if n not in skip and text and not text.startswith("#"):
            count += 1
    return count


def _parameters(fn) -> int:
    args = fn.args
    names = [a.arg for a in args.posonlyargs + args.args]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names) + len(args.kwonlyargs)


def _measure():
    private, long_modules, long_functions, wide_functions = set(), set(), set(), set()
    for path in _sources():
        text = path.read_text()
        lines = text.splitlines()
        rel, tree = _rel(path), ast.parse(text)
        private.update(_private_uses(path, tree))
        if len(lines) > MAX_MODULE_LINES:
            long_modules.add(rel)
        for name, fn in _functions(tree):
            if _code_lines(fn, lines) > MAX_FUNCTION_LINES:
                long_functions.add(f"{rel}::{name}")
            if _parameters(fn) > MAX_PARAMETERS:
                wide_functions.add(f"{rel}::{name}")
    return private, long_modules, long_functions, wide_functions


PRIVATE, LONG_MODULES, LONG_FUNCTIONS, WIDE_FUNCTIONS = _measure()


def mirror_of(rel: str) -> str | None:
    """The test file that mirrors module ``rel`` (relative to tfprune/), relative to tests/.

    >>> mirror_of("export/_io.py"), mirror_of("data/__init__.py"), mirror_of("logs.py")
    ('export/test_io.py', 'data/test_data.py', 'test_logs.py')
    """
    parts = rel.split("/")
    name = parts[-1][:-len(".py")]
    if name == "__init__":
        if len(parts) == 1:
            return None
        name = parts[-2]
    return "/".join([*parts[:-1], f"test_{name.lstrip('_')}.py"])


def _unmirrored(root=None, tests=None) -> set[str]:
    root, tests = root or ROOT, tests or TESTS
    out = set()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text())
        behaviour = any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                        for n in tree.body)
        mirror = mirror_of(rel)
        if behaviour and mirror and path.name != "conftest.py" and not (tests / mirror).exists():
            out.add(rel)
    return out


UNMIRRORED = _unmirrored()


def _ratchet(rule, found, allowed, fix):
    new, fixed = sorted(found - allowed), sorted(allowed - found)
    assert not new, (f"{rule}: {len(new)} new offender(s): {new}. {fix} "
                     "(the allow-list in tests/test_structure.py only goes down).")
    assert not fixed, (f"{rule}: no longer offending: {fixed}. Delete them from the allow-list "
                       "in tests/test_structure.py, so that the ratchet stays tight.")


# ------------------------------------------------------------------------------ the rules
def test_private_names_stay_in_their_module():
    _ratchet("(a) a private name used by another module", PRIVATE, ALLOWED_PRIVATE_USES,
             "Make the name public in its module (drop the underscore, rename at every use), "
             "or merge the two modules if they are one concept")


def test_modules_are_at_most_400_lines():
    _ratchet(f"(b) modules over {MAX_MODULE_LINES} lines", LONG_MODULES, ALLOWED_LONG_MODULES,
             "Split the module by concept (not by size)")


def test_functions_are_at_most_50_code_lines():
    _ratchet(f"(c) functions over {MAX_FUNCTION_LINES} code lines", LONG_FUNCTIONS,
             ALLOWED_LONG_FUNCTIONS, "Split the function into named steps")


def test_functions_take_at_most_8_parameters():
    _ratchet(f"(d) functions with more than {MAX_PARAMETERS} parameters", WIDE_FUNCTIONS,
             ALLOWED_WIDE_FUNCTIONS, "Group advanced options in a frozen dataclass")


def test_modules_with_behaviour_have_a_mirror_test_file():
    _ratchet("(e) a module with behaviour and no tests/<package>/test_<module>.py", UNMIRRORED,
             ALLOWED_UNMIRRORED, "Move the module's tests from its callers' test files into "
             "its mirror file (or write focused tests there)")


# ------------------------------------------------------------------------------ the checker
def test_the_checker_sees_each_kind_of_offence(tmp_path, monkeypatch):
    pkg = tmp_path / "tfprune"
    (pkg / "sub").mkdir(parents=True)
    for f in ("__init__.py", "sub/__init__.py", "sub/_hidden.py", "sub/sibling.py"):
        (pkg / f).write_text("")
    (pkg / "owner.py").write_text("_secret = 1\n")
    (pkg / "user.py").write_text(
        "from tfprune.owner import _secret\n"
        "from tfprune import owner\n"
        "from tfprune.sub import _hidden\n"
        "from tfprune.sub._hidden import ok\n"
        "x = owner._secret + _secret\n"
        "y = self_like._z if False else None\n"
        "def wide(self, a, b, c, d, e, f, g, h, *, i, **kw):\n"
        '    """Doc."""\n' + "    a = 1\n" * 51)
    (pkg / "sub" / "sibling.py").write_text("from tfprune.sub import _hidden\n")
    here = sys.modules[__name__]
    monkeypatch.setattr(here, "ROOT", pkg)
    monkeypatch.setattr(here, "MODULES", {_module_name(p): p for p in _sources()})
    private, long_modules, long_functions, wide_functions = _measure()
    assert private == {"tfprune.user -> tfprune.owner._secret",
                       "tfprune.user -> tfprune.sub._hidden"}
    assert long_functions == {"user.py::wide"} and wide_functions == {"user.py::wide"}
    assert long_modules == set()
    tests = tmp_path / "tests"
    (tests / "sub").mkdir(parents=True)
    (tests / "sub" / "test_hidden.py").write_text("")
    (pkg / "sub" / "_hidden.py").write_text("def f():\n    return 1\n")
    assert _unmirrored(pkg, tests) == {"user.py"}  # owner.py has no function: no behaviour


if __name__ == "__main__":  # print today's offenders, to lower the allow-lists after a merge
    for title, found in zip(("ALLOWED_PRIVATE_USES", "ALLOWED_LONG_MODULES",
                             "ALLOWED_LONG_FUNCTIONS", "ALLOWED_WIDE_FUNCTIONS",
                             "ALLOWED_UNMIRRORED"), (*_measure(), _unmirrored()), strict=True):
        print(f"{title}: set[str] = {{  # {len(found)}")
        print("".join(f'    "{x}",\n' for x in sorted(found)) + "}")
