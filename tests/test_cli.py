"""The command line through typer's CliRunner, on real files."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from dedup.cli import app
from dedup.write import validate_document

runner = CliRunner()


def test_json_on_seeds(seeds_dir):
    result = runner.invoke(app, ["cluster", str(seeds_dir), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == 1
    assert validate_document(document) == []
    assert {c["relation"] for c in document["clusters"]} == {"derived", "same-story"}
    assert document["singletons"] == ["003_0e6a0af431b6ad44"]
    assert [s["path"] for s in document["skipped"]] == ["expected.json"]
    assert document["parameters"]["sketch"]["scheme"] == "affine32"


def test_summary_on_seeds(seeds_dir):
    result = runner.invoke(app, ["cluster", str(seeds_dir)])
    assert result.exit_code == 0, result.output
    assert "000_41bc1a141fd2626e" in result.stdout
    assert "same-story" in result.stdout
    assert "origin" in result.stdout
    assert "2 clusters" in result.stderr


def test_output_file_matches_stdout(seeds_dir, tmp_path):
    target = tmp_path / "out.json"
    result = runner.invoke(app, ["cluster", str(seeds_dir), "--json", "--output", str(target), "-q"])
    assert result.exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == json.loads(result.stdout)


def test_stdin_jsonl(seed_texts):
    lines = "".join(json.dumps({"id": key, "text": text}) + "\n" for key, text in seed_texts.items())
    result = runner.invoke(app, ["cluster", "-", "--json", "-q"], input=lines)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert sorted(len(c["members"]) for c in document["clusters"]) == [2, 2]


def test_bad_files_are_skipped_with_reasons(seeds_dir, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(seeds_dir, folder)
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    (folder / "empty.txt").write_text("", encoding="utf-8")
    (folder / "broken.jsonl").write_text('{"id": "x", "text": "ok text here"}\n{not json\n', encoding="utf-8")
    result = runner.invoke(app, ["cluster", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    skipped = {s["path"]: s["reason"] for s in document["skipped"]}
    assert "binary" in skipped["binary.txt"]
    assert "empty" in skipped["empty.txt"]
    assert any(path.startswith("broken.jsonl") for path in skipped)
    assert "Traceback" not in result.output
    assert len(document["clusters"]) == 2


def test_folder_without_articles_is_an_error(tmp_path):
    (tmp_path / "junk.txt").write_bytes(b"\x00" * 64)
    result = runner.invoke(app, ["cluster", str(tmp_path)])
    assert result.exit_code == 3
    assert "no readable article" in result.stderr
    assert "binary" in result.stderr
    assert "Traceback" not in result.output


def test_missing_path_is_an_error(tmp_path):
    result = runner.invoke(app, ["cluster", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "nowhere" in result.stderr


def test_unwritable_output_is_an_error(seeds_dir, tmp_path):
    result = runner.invoke(app, ["cluster", str(seeds_dir), "-o", str(tmp_path / "no" / "such" / "dir" / "x.json")])
    assert result.exit_code == 2
    assert "cannot write" in result.stderr


def test_library_accepts_dicts_and_agrees_with_cli(seeds_dir, seed_texts):
    import dedup

    result = dedup.cluster([{"id": key, "text": text} for key, text in seed_texts.items()])
    cli = json.loads(runner.invoke(app, ["cluster", str(seeds_dir), "--json", "-q"]).stdout)
    assert sorted(sorted(m.id for m in c.members) for c in result.clusters) == sorted(
        sorted(m["id"] for m in c["members"]) for c in cli["clusters"]
    )


def test_copies_only_writes_tables_and_report(seeds_dir, tmp_path):
    folder = tmp_path / "copies"
    folder.mkdir()
    origin = (seeds_dir / "000_41bc1a141fd2626e.txt").read_text(encoding="utf-8")
    (folder / "a.txt").write_text(origin, encoding="utf-8")
    (folder / "b.txt").write_text("Advertisement\n" + origin, encoding="utf-8")
    (folder / "c.txt").write_text(
        (seeds_dir / "003_0e6a0af431b6ad44.txt").read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = runner.invoke(
        app,
        [
            "cluster",
            str(folder),
            "--copies-only",
            "-q",
            "--json",
            "--tables",
            str(tmp_path / "t"),
            "--html",
            str(tmp_path / "r.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [sorted(m["id"] for m in c["members"]) for c in document["clusters"]] == [["a", "b"]]
    members = (tmp_path / "t" / "members.jsonl").read_text(encoding="utf-8").splitlines()
    roles = {json.loads(line)["id"]: json.loads(line)["role"] for line in members}
    assert set(roles) == {"a", "b"} and sorted(roles.values()) == ["derived", "origin"]
    assert "c0001" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_a_run_that_would_not_fit_in_the_memory_budget_is_refused(seeds_dir):
    result = runner.invoke(app, ["cluster", str(seeds_dir), "--json", "--memory-budget", "1M"])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "needs about 0.6 GB of memory; 0.0 GB is the budget given" in message
    assert "--copies-only" in message
    assert result.stdout == ""


def test_a_run_within_the_memory_budget_runs(seeds_dir):
    result = runner.invoke(app, ["cluster", str(seeds_dir), "--json", "-q", "--memory-budget", "2GB"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["clusters"]) == 2


def test_an_unreadable_memory_budget_is_an_error(seeds_dir):
    result = runner.invoke(app, ["cluster", str(seeds_dir), "--memory-budget", "lots"])
    assert result.exit_code == 2
    assert "--memory-budget: not a size: 'lots'" in result.stderr
