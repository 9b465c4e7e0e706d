"""The docs' generated result tables (nasharness/doctables.py, benchmarks/make_docs.py) and their relative links.

The staleness test reads every page as committed: a results/*.csv edited without `python benchmarks/make_docs.py`
fails it. The other tests run on copies in tmp_path and never write into the checkout.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nasharness import doctables as dt
from nasharness.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
PAGES = dt.doc_files(ROOT)


def _copy_results(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "results", tmp_path / "results")
    return tmp_path


def _edit_csv(path: Path, match: dict[str, str], column: str, value: str) -> None:
    """Set ``column`` to ``value`` in the rows of ``path`` that match ``match`` (at least one must)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    hit = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert hit, (path, match)
    for r in hit:
        r[column] = value
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


# ---- (i) every generated block is up to date -------------------------------------------------------------------


def test_every_generated_block_is_up_to_date():
    stale, used = [], set()
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        used |= {b.name for b in dt.find_blocks(text, str(page))}
        _, changed = dt.update_text(text, ROOT, str(page))
        stale += [f"{page.relative_to(ROOT)}:{b.line}: {b.name} (from {b.csv})" for b in changed]
    assert not stale, "stale generated blocks; run `python benchmarks/make_docs.py`:\n" + "\n".join(stale)
    assert used == set(dt.BLOCKS), f"blocks defined but shown on no page: {sorted(set(dt.BLOCKS) - used)}"


def test_every_figure_is_up_to_date_and_shown():
    assert dt.update_figures(ROOT, check=True) == [], "stale figures; run `python benchmarks/make_docs.py`"
    shown = "".join(p.read_text(encoding="utf-8") for p in PAGES)
    for rel in dt.FIGURES:
        assert f"]({Path(rel).relative_to('docs')})" in shown, f"{rel} is embedded in no page"


_CURVE_HEAD = ("cell,method,seed,epoch,passes,probe_kt,probe_n,final_kt,final_kt_ci_low,final_kt_ci_high,final_n,"
               "params_kt,truth")


def test_curve_figure_is_drawn_from_the_csv_and_goes_stale_with_it(tmp_path):
    (tmp_path / "results").mkdir()
    rows = ["spos,spos,0,5,100,0.2,10,0.4,0.3,0.5,50,0.45,t@200", "spos,spos,0,10,200,0.4,10,0.4,0.3,0.5,50,0.45,t@200",
            "spos,spos,1,5,100,0.0,10,0.2,0.1,0.6,50,0.45,t@200", "spos,spos,1,10,200,0.2,10,0.2,0.1,0.6,50,0.45,t@200",
            "fairnas,fairnas,0,2,200,0.5,10,0.5,0.45,0.55,50,0.45,t@200"]
    csv_path = tmp_path / "results" / "oneshot_curve.csv"
    csv_path.write_text("\n".join([_CURVE_HEAD, *rows]) + "\n")
    assert dt.update_figures(tmp_path) == ["docs/img/oneshot_curve.svg"]
    svg = (tmp_path / "docs" / "img" / "oneshot_curve.svg").read_text()
    assert svg.startswith("<svg ") and svg.rstrip().endswith("</svg>")
    assert "spos, 10 epochs (2 seeds)" in svg and "fairnas, 2 epochs (1 seeds)" in svg
    assert "params (free), 50 archs" in svg
    # one polyline (spos: the probe's mean over seeds at 100 and 200 passes); fairnas has a single probe point
    assert svg.count("<polyline") == 1
    assert dt.update_figures(tmp_path, check=True) == []
    _edit_csv(csv_path, {"cell": "fairnas"}, "final_kt", "0.6")
    assert dt.update_figures(tmp_path, check=True) == ["docs/img/oneshot_curve.svg"]
    assert (tmp_path / "docs" / "img" / "oneshot_curve.svg").read_text() == svg  # check mode writes nothing


def test_svg_chart_maps_data_to_pixels():
    from nasharness.svgplot import HLine, Series, line_chart, nice_ticks

    assert nice_ticks(0, 9750) == [0, 2000, 4000, 6000, 8000, 10000]
    assert nice_ticks(0.37, 0.66) == [0.3, 0.4, 0.5, 0.6, 0.7]
    assert nice_ticks(-0.12, 0.31) == [-0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4]
    with pytest.raises(ValueError):
        nice_ticks(1, 1)
    svg = line_chart([Series("a", "#000000", [(0, 0.0), (10, 1.0)])], title="t", x_label="x", y_label="y",
                     hlines=[HLine("h", 0.5)], width=400, height=300, legend_width=100)
    # plot area: left 64, width 400 - 100 - 80 = 220, top 36, height 300 - 88 = 212; x ticks 0..10, y 0..1
    assert '<polyline points="64.0,248.0 284.0,36.0"' in svg
    assert 'y1="142.0"' in svg and "stroke-dasharray=\"6 4\"" in svg


@pytest.mark.parametrize(("csv_name", "match", "column", "value", "blocks"), [
    ("ci.csv", {"method": "spos", "bench": "201"}, "kendall_tau_mean", "0.5", {"ci-oneshot-201", "ci-baseline"}),
    ("ci.csv", {"method": "renas", "dataset": "cifar100"}, "regret_std", "9", {"ci-predictors", "ci-baseline"}),
    ("perf_tabular.csv", {"measurement": "nb201 1M vectorized lookups"}, "value", "0.5", {"perf-tabular"}),
    ("perf_supernet.csv", {"measurement": "ours: standalone network step"}, "ms", "999", {"perf-supernet"}),
    ("perf_predictor.csv", {"train_archs": "156", "loss": "mse"}, "kendall_tau", "0.9",
     {"perf-predictor", "predictor-ratios"}),
])
def test_an_edited_csv_makes_exactly_its_blocks_stale(tmp_path, csv_name, match, column, value, blocks):
    """The staleness test can fail: after a CSV edit the rendered text differs from the committed pages, for the
    blocks made from that CSV's edited rows and for no other."""
    root = _copy_results(tmp_path)
    _edit_csv(root / "results" / csv_name, match, column, value)
    changed = {name for name in dt.BLOCKS if dt.render(name, root) != dt.render(name, ROOT)}
    assert changed == blocks
    stale = {b.name for page in PAGES for b in dt.update_text(page.read_text(encoding="utf-8"), root)[1]}
    assert stale == blocks


def test_check_mode_writes_nothing_and_exits_1_then_regenerating_fixes_it(tmp_path, capsys):
    root = _copy_results(tmp_path)
    (root / "docs").mkdir()
    page = root / "docs" / "oneshot.md"
    shutil.copy(ROOT / "docs" / "oneshot.md", page)
    shutil.copy(ROOT / "docs" / "performance.md", root / "docs" / "performance.md")  # the targets of its links
    shutil.copytree(ROOT / "docs" / "img", root / "docs" / "img")
    (root / "docs" / "reproducibility.md").write_text("# Reproducibility\n")
    _edit_csv(root / "results" / "ci.csv", {"method": "fairnas", "bench": "101"}, "regret_mean", "3.25")
    before = page.read_text(encoding="utf-8")

    assert dt.main(["--check", "--root", str(root), str(page)]) == 1
    out = capsys.readouterr().out
    assert "stale: ci-oneshot-101 (from results/ci.csv)" in out and "ci-oneshot-201" not in out
    assert page.read_text(encoding="utf-8") == before

    assert dt.main(["--root", str(root), str(page)]) == 0
    after = page.read_text(encoding="utf-8")
    assert after != before and "| `fairnas` | `cifar10/val@108` | 0, 1 | 100 | 0.246 ± 0.060 |" in after
    assert "3.25 ± 1.21" in after
    assert not list(page.parent.glob(".*.tmp"))  # the atomic write left no temporary file
    # everything outside the block is as it was
    assert after.split("<!-- generated: ci-oneshot-101")[0] == before.split("<!-- generated: ci-oneshot-101")[0]
    assert after.rsplit(dt.END, 1)[1] == before.rsplit(dt.END, 1)[1]
    assert dt.main(["--check", "--root", str(root), str(page)]) == 0


def test_make_docs_script_checks_the_checkout():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_docs.py"), "--check"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "every generated block is up to date" in r.stdout


# ---- (ii) formatting, on tiny CSVs -----------------------------------------------------------------------------

_CI_HEAD = ("method,bench,dataset,budget,truth,n_seeds,seeds,n_archs,kendall_tau_mean,kendall_tau_std,spearman_mean,"
            "spearman_std,precision@10_mean,precision@10_std,regret_mean,regret_std,chosen_acc_mean,chosen_acc_std,"
            "search_wall_s_mean,search_wall_s_std,sim_train_s_mean,sim_train_s_std,peak_mem_mb_mean,peak_mem_mb_std,"
            "skip_connects_mean,skip_connects_std")


def test_ci_table_formatting(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "ci.csv").write_text("\n".join([
        _CI_HEAD,
        # one seed: the value alone, no "± 0"
        "scarlet,201,cifar10,ci,cifar10/ori-test@200,1,0,100,0.12345,,0.5,,0.1,,7.5,,86.871,,148.56,,0,0,2301.9,,,",
        'spos,201,cifar10,ci,cifar10/ori-test@200,2,"0,1",15625,-0.2456,0.0959,-0.366,0.1348,0,0,5.3567,1.4236,'
        "89.0167,1.4236,54.0085,0.3738,0,0,2303.95,1.20208,,",
        'random,101,cifar10,ci,cifar10/val@108,2,"0,1",100,0.43,0.01,0.6,0.01,0.45,0.07,1.08,0.48,93.58,0.48,0.0008,'
        "0,20420.2,355.177,2144.9,16.97,,",  # another bench: not in the 201 block
        'darts,darts,cifar10,ci,none,2,"0,1",0,,,,,,,,,,,89.55,1.44,0,0,2286.3,2.55,0,0',
    ]) + "\n")
    assert dt.render("ci-oneshot-201", tmp_path).split("\n\n", 1)[1] == (
        "| method | truth | seeds | archs ranked (n) | Kendall tau | Spearman | P@10 | regret (pp) | chosen acc (%) "
        "| supernet train loss | search wall (s) | peak mem (MB) |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        "| `spos` | `cifar10/ori-test@200` | 0, 1 | 15,625 | -0.246 ± 0.096 | -0.366 ± 0.135 | 0.00 ± 0.00 "
        "| 5.36 ± 1.42 | 89.02 ± 1.42 | – | 54.0 ± 0.4 | 2,304 ± 1 |\n"  # a baseline without the loss column: a dash
        "| `scarlet` | `cifar10/ori-test@200` | 0 | 100 | 0.123 | 0.500 | 0.10 | 7.50 | 86.87 | – | 148.6 | 2,302 |\n")
    lead, table = dt.render("ci-oneshot-201", tmp_path).split("\n\n", 1)
    assert lead.startswith("From `results/ci.csv`") and "mean ± std over seeds" in lead
    assert all(len(line) <= 120 for line in lead.splitlines())
    # a space without a table (no truth, no ranking): dashes, and the simulated cost in GPU-hours where it exists
    rows = dt.render("ci-baseline", tmp_path).splitlines()
    darts = ("| `darts` | darts / cifar10 | none (no table) | 0, 1 | – | – | – | – | – | – | 89.5 ± 1.4 | – "
             "| 2,286 ± 3 |")
    assert darts in rows
    assert any(r.startswith("| `random` | 101 / cifar10 |") and "| 5.7 ± 0.1 |" in r for r in rows)


def test_perf_table_formatting(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "perf_tabular.csv").write_text(
        "measurement,value,unit,reference,reference_value,speedup_vs_reference,note,python,machine,cpus,date,torch,"
        "threads\n"
        "warm load,0.0171095,s,cold load,0.100436,5.87,target >= 5x,3.11.7,x86_64,2,2026-01-02,2.13.0+cpu,2\n"
        "one lookup,0.78598,us,,,,a | b,3.11.7,x86_64,2,2026-01-02,2.13.0+cpu,2\n"
        "almost a second,0.99996,s,,,,,3.11.7,x86_64,2,2026-01-02,2.13.0+cpu,2\n")
    lead, table = dt.render("perf-tabular", tmp_path).split("\n\n", 1)
    assert " ".join(lead.split()) == ("From `results/perf_tabular.csv` (measured 2026-01-02 on x86_64, 2 CPUs, 2 torch "
                                      "threads; Python 3.11.7, torch 2.13.0+cpu):")
    assert table == (
        "| measurement | time | reference | reference time | speedup | note |\n"
        "| --- | ---: | --- | ---: | ---: | --- |\n"
        "| warm load | 17.1 ms | cold load | 100 ms | 5.87× | target >= 5x |\n"
        "| one lookup | 0.786 µs | – | – | – | a \\| b |\n"  # a pipe in a cell is escaped
        "| almost a second | 1.00 s | – | – | – | – |\n")


def test_predictor_ratio_table(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "perf_predictor.csv").write_text(
        "measurement,seconds,per_second,train_archs,loss,kendall_tau,n,date\n"
        '"encode all 15,625 NB201 archs",1.658,9423,,,,,2026-01-02\n'
        "fit predictor (150 epochs),1.907,,16,pairwise,0.5039,15609,2026-01-02\n"
        "fit predictor (150 epochs),0.842,,16,mse,0.4802,15609,2026-01-02\n"
        '"predict all 15,625",1.5,10000,16,mse,,,2026-01-02\n'
        "fit predictor (150 epochs),42.611,,1562,pairwise,0.8059,14063,2026-01-02\n")  # no MSE row at 1,562
    lead, table = dt.render("predictor-ratios", tmp_path).split("\n\n", 1)
    assert "seed 0, 150 epochs" in lead and "measured 2026-01-02" in lead
    assert table.splitlines()[2:] == ["| 16 (0.1%) | 0.504 | 0.480 | 15,609 | 1.91 s | 842 ms |",
                                      "| 1,562 (10%) | 0.806 | – | 14,063 | 42.6 s | – |"]


def test_number_formats():
    assert [dt.sig(x) for x in (0.998, 999.7, 0.27, 119.08, -0.0123, 0, "", "n/a")] == \
        ["0.998", "1,000", "0.270", "119", "-0.0123", "0", "–", "–"]
    assert [dt.duration(v, u) for v, u in ((0.9999, "s"), (999.96, "ms"), (2.92536, "us"), (1477.94, "ms"), (0, "s"),
                                           (90.2, "s"))] == ["1.00 s", "1.00 s", "2.93 µs", "1.48 s", "0 s", "90.2 s"]
    assert dt.mean_std(0.14492, 0.07155, 3) == "0.145 ± 0.072"
    assert dt.mean_std(0.14492, 0.0, 3, n_seeds=1) == "0.145" and dt.mean_std("", "", 2) == "–"
    assert dt.fixed(1479.1, 0) == "1,479" and dt.count(15625) == "15,625" and dt.count("") == "–"
    with pytest.raises(ValueError, match="unknown time unit 'h'"):
        dt.duration(1, "h")


def test_a_missing_csv_or_column_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        dt.render("perf-tabular", tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "perf_tabular.csv").write_text("measurement,value\nx,1\n")
    with pytest.raises(UserError, match="lacks the column.*unit"):
        dt.render("perf-tabular", tmp_path)
    with pytest.raises(UserError, match="unknown generated block 'nope'"):
        dt.render("nope", tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    ("a\n<!-- generated: nope from results/ci.csv -->\n<!-- end generated -->\n", ":2: unknown generated block"),
    ("<!-- generated: ci-baseline from results/perf_tabular.csv -->\n<!-- end generated -->\n",
     "is made from results/ci.csv, but its marker says results/perf_tabular.csv"),
    ("<!-- generated: ci-baseline from results/ci.csv -->\nno end\n", "has no '<!-- end generated -->'"),
    ("<!-- generated: ci-baseline from results/ci.csv -->\n<!-- generated: perf-tabular from results/perf_tabular.csv"
     " -->\n<!-- end generated -->\n", "has no '<!-- end generated -->'"),
    ("x\n\n<!-- end generated -->\n", ":3: '<!-- end generated -->' without"),
    ("<!-- generated:ci-baseline -->\n", "malformed generated-block marker"),
])
def test_malformed_markers_name_the_page_and_line(text, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("|", r"\|")) as e:
        dt.find_blocks(text, "page.md")
    assert str(e.value).startswith("page.md:")


def test_markers_quoted_in_prose_are_text_and_blocks_round_trip(tmp_path):
    shutil.copytree(ROOT / "results", tmp_path / "results")
    page = (f"Write `{dt.marker('perf-tabular')}` to add one.\n\n{dt.marker('perf-tabular')}\nold\n{dt.END}\nafter\n")
    new, stale = dt.update_text(page, tmp_path)
    assert [b.name for b in stale] == ["perf-tabular"]
    assert new.startswith("Write `<!-- generated: perf-tabular") and new.endswith(f"\n{dt.END}\nafter\n")
    assert dt.update_text(new, tmp_path) == (new, [])


def test_the_module_imports_nothing_heavy():
    code = ("import sys, nasharness.doctables; heavy = {'torch', 'mlflow', 'pandas', 'numpy'} & set(sys.modules); "
            "print(sorted(heavy))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


# ---- (iii) relative links --------------------------------------------------------------------------------------


def test_every_relative_link_of_the_docs_points_at_an_existing_file_and_heading():
    assert {p.name for p in PAGES} >= {"README.md", "commands.md", "data.md", "suites.md"}
    broken = dt.broken_links(PAGES)
    assert not broken, "\n".join(broken)


def test_broken_links_finds_missing_files_and_anchors(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# Page B\n\n## `nasharness bench list | info`\n\n## Same\n\n## Same\n")
    (tmp_path / "a.md").write_text(
        "# A\n[ok](docs/b.md) [ok](docs/b.md#page-b) [ok](docs/b.md#nasharness-bench-list--info) "
        "[ok](docs/b.md#same-1) [ok](#a) ![img](docs/b.md) [web](https://example.com/x.md)\n"
        "`[in code](nope.md)`\n```\n[in a fence](nope.md)\n```\n"
        "[gone](docs/missing.md)\n[bad anchor](docs/b.md#nope) [self](#nope)\n")
    assert dt.broken_links([tmp_path / "a.md"]) == [
        f"{tmp_path / 'a.md'}:7: docs/missing.md (no such file {tmp_path / 'docs' / 'missing.md'})",
        f"{tmp_path / 'a.md'}:8: docs/b.md#nope (no heading #nope in b.md)",
        f"{tmp_path / 'a.md'}:8: #nope (no heading #nope in a.md)",
    ]


@pytest.mark.parametrize(("heading", "anchor"), [
    ("One-shot methods on NAS-Bench-201 (`spos`, `fairnas`, `scarlet`)",
     "one-shot-methods-on-nas-bench-201-spos-fairnas-scarlet"),
    ("`nasharness train --arch NAME|GENOTYPE --bench darts`", "nasharness-train---arch-namegenotype---bench-darts"),
    ("Scaling out, remote tracking, and never losing a run", "scaling-out-remote-tracking-and-never-losing-a-run"),
    ("Guarantees: what survives a kill, a full disk", "guarantees-what-survives-a-kill-a-full-disk"),
])
def test_slug_is_githubs_anchor(heading, anchor):
    assert dt.slug(heading) == anchor
