"""`stockade learn --review`: aa-genprof's questions, answered by a script."""

from stockade.cli.learn import review
from stockade.learn.proposals import Proposal


def proposals() -> list[Proposal]:
    return [Proposal("file", path="/srv/data/a.txt", letters={"r"}),
            Proposal("file", path="/srv/data/b.log", letters={"w"}),
            Proposal("capability", name="chown"),
            Proposal("file", path="/etc/shadow", letters={"r"}),
            Proposal("file", path="/tmp/x", letters={"r"})]


def scripted(*answers: str):
    queue = list(answers)
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return queue.pop(0)
    return ask, asked


def test_review_allow_glob_extension_ignore_deny_finish() -> None:
    ask, asked = scripted("g", "a", "e", "a", "i", "d", "f")
    kept = review(proposals(), ask)
    rendered = [p.render() for p in kept]
    assert rendered == ["/srv/data/* r,", "/srv/data/*.log w,", "deny /etc/shadow r,", "/tmp/x r,"]
    assert "/srv/data/* r," in asked[1]  # the globbed rule is shown again before it is allowed


def test_unknown_answers_ask_again() -> None:
    ask, asked = scripted("?", "x", "a", "a", "a", "a", "a")
    assert len(review(proposals(), ask)) == 5
    assert len(asked) == 7
