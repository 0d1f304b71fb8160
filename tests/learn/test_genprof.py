"""genprof: accesses → a profile that allows them and nothing much else."""

from stockade.learn.genprof import profile_text
from stockade.learn.proposals import Access
from stockade.policy import Perm, compile_profiles


def test_profile_allows_what_was_seen_and_includes_abstractions(tmp_path) -> None:
    seen = [
        Access("file", path="/etc/ld.so.cache", letters="r"),  # abstractions/base
        Access("file", path="/usr/lib/x86_64-linux-gnu/libc.so.6", letters="mr"),
        Access("file", path="/srv/data/input.csv", letters="r"),
        Access("file", path="/srv/data/out/result.txt", letters="w"),
        Access("exec", path="/usr/bin/gzip"),
        Access("file", path="/proc/777/status", letters="r"),
        Access("capability", name="chown"),
        Access("network", name="inet", detail="stream"),
    ]
    text = profile_text("tool", "/usr/local/bin/tool", seen, command=["tool", "--x"])
    assert "include <abstractions/base>" in text
    assert "/etc/ld.so.cache" not in text  # covered by base
    assert "capability chown," in text and "network inet stream," in text
    assert "/usr/bin/gzip ix," in text
    path = tmp_path / "tool"
    path.write_text(text)
    profile = compile_profiles(str(path))[0]
    assert profile.name == "tool" and profile.attachment == "/usr/local/bin/tool"
    assert profile.file_perms("/srv/data/input.csv").allows(Perm.READ)
    assert profile.file_perms("/srv/data/out/result.txt").allows(Perm.WRITE)
    assert profile.file_perms("/proc/9999/status").allows(Perm.READ)  # @{pid}
    assert profile.file_perms("/usr/bin/gzip").allows(Perm.EXEC)
    assert profile.file_perms("/etc/ld.so.cache").allows(Perm.READ)  # through base
    # what the program never touched stays denied
    assert not profile.file_perms("/srv/data/secret.key").allows(Perm.READ)
    assert not profile.file_perms("/srv/data/input.csv").allows(Perm.WRITE)
    assert not profile.file_perms("/etc/shadow").allows(Perm.READ)
    assert "sys_admin" not in profile.capabilities.effective
