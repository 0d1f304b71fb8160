"""Include resolution: -I search order, quoted includes, directories, if exists, cycles."""

from __future__ import annotations

from pathlib import Path

from stockade.policy import Loader, Perm, compile_profiles, load
from stockade.policy.includes import BUNDLED_DIR, search_path


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_search_path_order(tmp_path: Path) -> None:
    path = search_path([str(tmp_path)])
    assert path[0] == str(tmp_path) and path[-1] == BUNDLED_DIR


def test_dash_i_wins_over_bundled(tmp_path: Path) -> None:
    _tree(tmp_path, {"tunables/home": "@{HOME}=/custom/\n"})
    (p,) = compile_profiles("include <tunables/home>\nprofile t {\n @{HOME}x r,\n}\n",
                            loader=Loader([str(tmp_path)], system=False))
    assert p.file_perms("/custom/x").allow == Perm.READ


def test_bundled_data_resolves_without_system_dir() -> None:
    pf = load("include <tunables/global>\nprofile t {\n include <abstractions/base>\n}\n",
              loader=Loader(system=False))
    inc = pf.statements[0]
    assert inc.files and inc.files[0].path.startswith(BUNDLED_DIR)


def test_directory_include_skips_dotfiles_and_backups(tmp_path: Path) -> None:
    _tree(tmp_path, {"d/a": "  /a r,\n", "d/b": "  /b r,\n", "d/.hidden": "  /h r,\n",
                     "d/c~": "  /c r,\n", "d/e.dpkg-old": "  /e r,\n"})
    (p,) = compile_profiles("profile t {\n include <d>\n}\n",
                            loader=Loader([str(tmp_path)], system=False))
    got = {r.path for r in p.file_rules}
    assert got == {"/a", "/b"}


def test_quoted_include_relative_to_including_file(tmp_path: Path) -> None:
    _tree(tmp_path, {"sub/extra": "  /extra r,\n",
                     "sub/main": 'profile t {\n include "extra"\n}\n'})
    (p,) = compile_profiles(str(tmp_path / "sub/main"), loader=Loader(system=False))
    assert p.file_perms("/extra").allow == Perm.READ


def test_include_if_exists_missing_is_fine() -> None:
    (p,) = compile_profiles("profile t {\n include if exists <nope/none>\n /x r,\n}\n",
                            loader=Loader(system=False))
    assert p.file_perms("/x").allow == Perm.READ


def test_include_cycle_ends_silently(tmp_path: Path) -> None:
    # upstream's include cache skips a file that is already included (parser_lex.l
    # include_filename: "skipping reinclude"), so a cycle is not an error
    _tree(tmp_path, {"a": "include <b>\n/a r,\n", "b": "include <a>\n/b r,\n"})
    (p,) = compile_profiles("profile t {\n include <a>\n}\n",
                            loader=Loader([str(tmp_path)], system=False))
    assert p.file_perms("/a").allow == Perm.READ and p.file_perms("/b").allow == Perm.READ


def test_each_file_parsed_once_per_loader(tmp_path: Path) -> None:
    _tree(tmp_path, {"abs/x": "  /x r,\n"})
    loader = Loader([str(tmp_path)], system=False)
    a = load("profile a {\n include <abs/x>\n}\n", loader=loader)
    b = load("profile b {\n include <abs/x>\n}\n", loader=loader)
    assert a.profiles()[0].body[0].files[0] is b.profiles()[0].body[0].files[0]
