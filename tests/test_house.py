"""House rules no linter checks: every suppression says why on its line."""
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A suppression, its codes, then the reason (anything but blanks) on the same comment.
SUPPRESSION = re.compile(r"#\s*(noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?"
                         r"|type:\s*ignore(\[[^\]]*\])?)(?P<reason>.*)$")


def unexplained(source: str) -> list[tuple[int, str]]:
    """(line, comment) of each `# noqa` or `# type: ignore` comment with no reason after it."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        match = SUPPRESSION.search(token.string)
        if match and not match.group("reason").strip(" -—:;,"):
            found.append((token.start[0], token.string))
    return found


def test_unexplained_finds_bare_suppressions_only():
    source = ("import a  # noqa\n"
              "import b  # noqa: F401\n"
              "import c  # noqa: F401 - re-exported\n"
              "x = 1  # type: ignore[attr-defined]\n"
              "y = 1  # type: ignore[attr-defined] - stubs lack it\n"
              "z = '# noqa'\n")
    assert [line for line, _ in unexplained(source)] == [1, 2, 4]


def test_every_suppression_says_why():
    files = sorted((ROOT / "kedro_airflow_k8s").rglob("*.py")) + sorted(
        (ROOT / "tests").rglob("*.py"))
    bare = [f"{path.relative_to(ROOT)}:{line}: {comment}"
            for path in files for line, comment in unexplained(path.read_text())]
    assert not bare, "a noqa / type: ignore without a reason on its line:\n" + "\n".join(bare)
