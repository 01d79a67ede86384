"""The CSV generator: deterministic, shaped as asked, and honest about what it wrote (no Spark)."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from order_tracking import generate as gen
from order_tracking.generate import HEADER, STATUSES, generate, main_generate

KEY = re.compile(r"TRK\d{9}")


def read(path: str | Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def is_good(row: list[str]) -> bool:
    if len(row) != len(HEADER) or not row[0]:
        return False
    try:
        datetime.fromisoformat(row[3].replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def small(tmp_path: Path, name: str = "out", **kwargs: object) -> gen.GenerateReport:
    options = {"parcels": 2_000, "days": 3, "events_per_day": 1_000, **kwargs}
    return generate(str(tmp_path / name), **options)  # type: ignore[arg-type]


def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    a, b, c = small(tmp_path, "a"), small(tmp_path, "b"), small(tmp_path, "c", seed=7)
    names = [Path(f).name for f in a.files]
    assert names == ["initial.csv", "day_0001.csv", "day_0002.csv", "day_0003.csv"]
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names)
    assert (tmp_path / "a" / "day_0001.csv").read_bytes() != (tmp_path / "c" / "day_0001.csv").read_bytes()
    assert [Path(f).name for f in b.files] == [Path(f).name for f in c.files] == names


def test_every_file_has_the_contract_header_and_well_formed_keys_with_leading_zeros(tmp_path):
    report = small(tmp_path)
    for path in report.files:
        header, *rows = read(path)
        assert tuple(header) == HEADER
        assert all(KEY.fullmatch(r[0]) and r[2] in STATUSES for r in rows)
    initial = read(report.files[0])[1:]
    assert initial[0][0] == "TRK000000001"
    assert any(r[5].startswith("0") for r in initial), "some zip codes need their leading zero kept"


def test_digit_only_keys_keep_their_leading_zeros(tmp_path):
    rows = read(small(tmp_path, key_prefix="", days=0).files[0])[1:]
    assert rows[0][0] == "000000001" and all(re.fullmatch(r"\d{9}", r[0]) for r in rows)


def test_report_counts_match_the_files(tmp_path):
    report = small(tmp_path, bad_row_share=0.02)
    initial, *days = [read(f)[1:] for f in report.files]
    assert len(initial) == report.initial_rows == 2_000
    assert len({r[0] for r in initial}) == 2_000
    assert report.rows == sum(len(rows) for rows in [initial, *days])
    assert report.events == 3 * 1_000 == sum(is_good(r) for rows in days for r in rows)
    assert report.bad_rows == sum(not is_good(r) for rows in days for r in rows)
    keys = {r[0] for rows in [initial, *days] for r in rows if is_good(r)}
    assert len(keys) == report.final_parcels == 2_000 + report.new_parcels
    assert report.updates + report.new_parcels + report.duplicates == report.events


def test_shares_are_roughly_as_asked(tmp_path):
    report = small(tmp_path, days=2, events_per_day=5_000, duplicate_share=0.1, late_share=0.05, bad_row_share=0.03)
    newest = {r[0]: r[3] for r in read(report.files[0])[1:]}
    late = dup = bad = total = 0
    for path in report.files[1:]:
        rows = read(path)[1:]
        total += len(rows)
        bad += sum(not is_good(r) for r in rows)
        good = [r for r in rows if is_good(r)]
        dup += sum(n - 1 for n in Counter(r[0] for r in good).values())
        late += sum(r[0] in newest and r[3] < newest[r[0]] for r in good)
        for r in good:
            newest[r[0]] = max(newest.get(r[0], r[3]), r[3])
    assert dup / 10_000 == pytest.approx(0.1, abs=0.01)
    assert late / 10_000 == pytest.approx(0.05, abs=0.01)
    assert bad / total == pytest.approx(0.03, abs=0.005)


def test_most_updates_concern_recently_issued_parcels(tmp_path):
    report = small(tmp_path, parcels=50_000, days=1, events_per_day=10_000, locality_days=3)
    window = 3 * round(10_000 * 0.3)
    numbers = [int(r[0][3:]) for r in read(report.files[1])[1:]]
    updates = [n for n in numbers if n <= 50_000]
    assert len(updates) > 0.6 * len(numbers)
    recent = sum(n > 50_000 - window for n in updates) / len(updates)
    assert 0.9 < recent < 0.99, "mostly recent, yet some updates reach back to old parcels"
    assert all(n > 50_000 for n in numbers if n not in set(updates))


def test_old_days_bounds_the_age_of_the_older_parcels_updated(tmp_path):
    report = small(tmp_path, parcels=50_000, days=1, events_per_day=10_000, locality_days=3, old_days=10)
    per_day = round(10_000 * 0.3)
    numbers = [int(r[0][3:]) for r in read(report.files[1])[1:]]
    updates = [n for n in numbers if n <= 50_000]
    older = [n for n in updates if n <= 50_000 - 3 * per_day]
    assert 0.03 * len(updates) < len(older) < 0.07 * len(updates)
    assert min(older) > 50_000 - 10 * per_day, "no update reaches past the last 10 days"
    assert max(older) - min(older) > 6 * per_day, "the older updates spread over the days before the recent ones"


def test_random_keys_scatter_over_the_key_space(tmp_path):
    report = small(tmp_path, random_keys=True, days=1, duplicate_free=True)
    numbers = [int(r[0][3:]) for r in read(report.files[1])[1:]]
    assert len(set(numbers)) == len(numbers) == 1_000
    assert max(numbers) - min(numbers) > 0.9 * gen.PERM_M
    initial = [int(r[0][3:]) for r in read(report.files[0])[1:]]
    assert len(set(initial)) == 2_000 and initial != sorted(initial)


def test_duplicate_free_data_has_one_row_per_key_per_file_and_nothing_late_or_bad(tmp_path):
    report = small(tmp_path, duplicate_free=True, bad_row_share=0.1, late_share=0.1)
    assert report.duplicates == report.late == report.bad_rows == 0
    for path in report.files:
        keys = [r[0] for r in read(path)[1:]]
        assert len(keys) == len(set(keys))


def test_updates_move_status_forward_in_time(tmp_path):
    report = small(tmp_path, days=1, late_share=0.0, duplicate_share=0.0)
    before = {r[0]: r for r in read(report.files[0])[1:]}
    for r in read(report.files[1])[1:]:
        if r[0] in before:
            assert r[3] > before[r[0]][3] and r[1] == before[r[0]][1] and r[4:] == before[r[0]][4:]
        else:
            assert r[2] == "Created"


def test_large_outputs_are_split_into_chunks_and_days_into_parts(tmp_path, monkeypatch):
    monkeypatch.setattr(gen, "CHUNK_ROWS", 800)
    report = small(tmp_path, days=1, files_per_day=3)
    names = [Path(f).name for f in report.files]
    assert names == ["initial_001.csv", "initial_002.csv", "initial_003.csv"] + [
        f"day_0001_0{i}.csv" for i in (1, 2, 3)
    ]
    assert sum(len(read(f)) - 1 for f in report.files[3:]) == 1_000


def test_skipping_the_initial_file_keeps_the_parcels_as_existing_state(tmp_path):
    full, skipped = small(tmp_path, "full", days=1), small(tmp_path, "skip", days=1, write_initial=False)
    assert [Path(f).name for f in skipped.files] == ["day_0001.csv"]
    assert Path(skipped.files[0]).read_bytes() == Path(full.files[1]).read_bytes()
    assert skipped.final_parcels == full.final_parcels


def test_cli_writes_files_and_prints_the_report(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["--out", str(out), "--parcels", "100", "--days", "2", "--events-per-day", "50", "--random-keys"]
    assert main_generate([*argv, "--no-initial", "--seed", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["files"] == 2 and printed["initial_rows"] == 0 and printed["events"] == 100
    assert sorted(p.name for p in out.iterdir()) == ["day_0001.csv", "day_0002.csv"]
