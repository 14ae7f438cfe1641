"""Issue 13: the machine-readable command line (`--json` on apply, check, backups, rollback and
confirm) that the Ansible collection drives. Each command prints one JSON document, whatever
happened, with the fields and exit statuses the README documents; no prose on standard output."""
from __future__ import annotations

import json

import pytest
from test_cli import PLAINTEXT_SASL, Box, box, snapshot  # noqa: F401  (box is a fixture)

COMMON = {"command", "status", "ok", "changed", "findings", "messages", "error"}
FINDING = {"severity", "code", "fields", "message", "fix"}


def run_json(box: Box, *args) -> dict:
    result = box.run(*args, "--json")
    document = json.loads(result.stdout)         # standard output is the document alone
    assert COMMON <= set(document)
    assert document["status"] == result.returncode
    assert document["ok"] == (result.returncode == 0)
    return document


def test_apply_dry_run_reports_each_file_before_and_after_and_writes_nothing(box):
    before = snapshot(box.root)
    found = run_json(box, "apply", "--preset", "rhel9-guide", "--dry-run")
    assert found["command"] == "apply" and found["changed"] and found["dry_run"]
    assert found["preset"] == "rhel9-guide"
    main_cf = next(c for c in found["changes"] if c["path"].endswith("postfix/main.cf"))
    assert main_cf["before"] == (box.postfix / "main.cf").read_text()
    assert "smtpd_client_connection_rate_limit" in main_cf["after"]
    assert main_cf["diff"].startswith("--- ") and "+smtpd_client_connection_rate_limit" in \
        main_cf["diff"]
    assert all(FINDING == set(f) for f in found["findings"])
    assert snapshot(box.root) == before


def test_apply_then_again_is_no_change_then_rollback_restores(box):
    before = box.config()
    applied = run_json(box, "apply", "--preset", "rhel9-guide", "--yes", "--no-reload")
    assert applied["status"] == 0 and applied["changed"]
    assert applied["backup_set"] and applied["written"] and applied["reloaded"] == []
    assert applied["probe"] is None and not applied["rolled_back"]
    assert box.config() != before

    again = run_json(box, "apply", "--preset", "rhel9-guide", "--yes", "--no-reload")
    assert again["status"] == 0 and not again["changed"] and again["changes"] == []

    listed = run_json(box, "backups")
    assert [b["id"] for b in listed["backup_sets"]] == [applied["backup_set"]]
    assert listed["backup_sets"][0]["completed"] and listed["pending"] is None
    assert {"path", "size", "mode"} == set(listed["backup_sets"][0]["files"][0])

    restored = run_json(box, "rollback", "--yes", "--no-reload")
    assert restored["status"] == 0 and restored["changed"]
    assert restored["restored"] == applied["backup_set"]
    assert box.config() == before


def test_a_validation_error_is_status_1_with_the_finding_and_nothing_written(box):
    preset = box.preset("plaintext.toml", PLAINTEXT_SASL)
    before = snapshot(box.root)
    found = run_json(box, "apply", "--preset", preset, "--yes", "--no-reload")
    assert found["status"] == 1 and not found["changed"]
    errors = [f for f in found["findings"] if f["severity"] == "error"]
    assert errors and "STARTTLS" in errors[0]["message"] and errors[0]["fix"]
    checked = run_json(box, "check", "--preset", preset)
    assert checked["status"] == 1 and checked["findings"] == found["findings"]
    assert snapshot(box.root) == before


@pytest.mark.parametrize("args, status, words", [
    (["apply", "--preset", "no-such-preset", "--yes"], 2, "no shipped preset has that name"),
    (["rollback", "20200101-000000", "--yes"], 2, "20200101-000000"),
    (["apply", "--preset", "rhel9-guide", "--no-such-option"], 2, "unrecognized arguments"),
])
def test_a_refusal_is_a_document_too(box, args, status, words):
    before = snapshot(box.root)
    found = run_json(box, *args)
    assert found["status"] == status and not found["ok"] and words in found["error"]
    assert snapshot(box.root) == before


def test_a_preset_may_be_json_with_the_same_tables(box):
    toml = box.preset("t.toml", '[preset]\nname = "t"\nformat = 1\n[limits]\n'
                                'smtpd_client_connection_rate_limit = 17\n')
    js = box.preset("t.json", json.dumps({"preset": {"name": "t", "format": 1},
                                          "limits": {"smtpd_client_connection_rate_limit": 17}}))
    from_toml = run_json(box, "apply", "--preset", toml, "--dry-run")
    from_json = run_json(box, "apply", "--preset", js, "--dry-run")
    assert from_json["changes"] == from_toml["changes"] and from_json["changed"]
    bad = box.preset("bad.json", '{"limits": {"smtpd_client_connection_rate_limit": "lots"}}')
    refused = run_json(box, "apply", "--preset", bad, "--dry-run")
    assert refused["status"] == 2 and "bad.json" in refused["error"]
    broken = box.preset("broken.json", '{"limits": ')
    assert "is not valid JSON" in run_json(box, "check", "--preset", broken)["error"]


def test_confirm_with_nothing_pending_changes_nothing(box):
    found = run_json(box, "confirm")
    assert found["status"] == 0 and not found["changed"] and found["confirmed"] is None
    checked = run_json(box, "check")
    assert checked["status"] == 0 and checked["pending"] is None
