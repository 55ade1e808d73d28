"""Evaluate the FAQ: the blind set (DEV for tuning, TEST for the figures), the older labelled set, latency.

.venv/bin/python bench/faq_eval.py                 # DEV figures (with misses), old set, latency; no TEST
.venv/bin/python bench/faq_eval.py --test          # also the blind TEST figures (aggregates only; logged)
.venv/bin/python bench/faq_eval.py --calibrate     # fit the decision on blind DEV only and print the settings
.venv/bin/python bench/faq_eval.py --lexical       # without the sentence model (BOT_FAQ_EMBEDDINGS=0)
.venv/bin/python bench/faq_eval.py --json          # the same figures as JSON

Every run with --test appends one line (UTC time, git commit) to bench/data/faq_blind_test_looks.log, so the
number of looks at the TEST part is on record. TEST items and per-item TEST results are never printed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

# Single-threaded BLAS so latency figures match a small shared server; threadpoolctl below does the same
# at run time when it is installed.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from faq_data import TEST_LOOKS, TEST_PART, load_blind, load_labelled  # noqa: E402

from flows.faq import FaqEntry, FaqIndex, load_guides  # noqa: E402
from flows.faq.embedding import shared_encoder  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - the environment variables above already apply
    threadpool_limits = None

ANSWERED = ("confident", "likely")


def evaluate(index: FaqIndex, items: list[dict], keep_misses: bool) -> dict:
    """Aggregate figures; with `keep_misses` (DEV and the old set only) also the questions that went wrong."""
    in_scope = [i for i in items if i["id"]]
    out_of_scope = [i for i in items if not i["id"]]
    near = [i for i in out_of_scope if i.get("kind") == "near_miss"]
    counts = dict.fromkeys(
        ("top1", "top3", "confident_right", "likely_right", "confident_wrong", "answered_wrong", "unsure"), 0
    )
    reciprocal_rank = 0.0
    misses: list[dict] = []
    for item in in_scope:
        signals = index.signals(item["q"])
        ranked = [index.entries[i].id for i in signals.order] if signals else []
        result = index.decide(signals) if signals else index.query(item["q"])
        right = bool(ranked) and ranked[0] == item["id"]
        counts["top1"] += right
        counts["top3"] += item["id"] in ranked[:3]
        reciprocal_rank += 1 / (ranked.index(item["id"]) + 1) if item["id"] in ranked else 0.0
        if result.status in ANSWERED:
            ok = result.entry.id == item["id"]
            counts[f"{result.status}_right"] += ok
            counts["confident_wrong"] += result.status == "confident" and not ok
            counts["answered_wrong"] += not ok
            if not ok and keep_misses:
                misses.append(
                    {"q": item["q"], "want": item["id"], "got": result.entry.id, "status": result.status}
                )
        else:
            counts["unsure"] += result.status == "unsure"
            if keep_misses:
                got = ranked[0] if ranked else None
                misses.append({"q": item["q"], "want": item["id"], "got": got, "status": result.status})
    refused = near_answered = 0
    answered: list[dict] = []
    for item in out_of_scope:
        result = index.query(item["q"])
        refused += result.status not in ANSWERED
        near_answered += item.get("kind") == "near_miss" and result.status in ANSWERED
        if result.status in ANSWERED and keep_misses:
            answered.append({"q": item["q"], "got": result.entry.id, "status": result.status})
    n, m = max(len(in_scope), 1), max(len(out_of_scope), 1)
    report = {
        "in_scope": len(in_scope),
        "out_of_scope": len(out_of_scope),
        "near_miss": len(near),
        "top1": counts["top1"] / n,
        "top3": counts["top3"] / n,
        "mrr": reciprocal_rank / n,
        "confident_right": counts["confident_right"] / n,
        "likely_right": counts["likely_right"] / n,
        "confident_wrong": counts["confident_wrong"] / n,
        "answered_wrong": counts["answered_wrong"] / n,
        "unsure": counts["unsure"] / n,
        "oos_refused": refused / m,
        "near_miss_fp": near_answered / max(len(near), 1) if near else None,
    }
    if keep_misses:
        report["misses"] = misses
        report["oos_answered"] = answered
    return report


def by_group(index: FaqIndex, items: list[dict]) -> dict[str, dict]:
    """The same aggregates per style (msa, gulf, en): no item is shown."""
    styles = sorted({i["style"] for i in items})
    return {style: evaluate(index, [i for i in items if i["style"] == style], False) for style in styles}


def record_test_look(note: str) -> None:
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit, dirty = "unknown", ""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(TEST_LOOKS, "a", encoding="utf-8") as log:
        log.write(f"{stamp} commit={commit or 'unknown'}{'+dirty' if dirty else ''} {note}\n")


def test_looks() -> int:
    """Looks at the current TEST part (the log also holds the retired parts': A/B twelve, E one)."""
    if not TEST_LOOKS.exists():
        return 0
    return sum(TEST_PART in line.split() for line in TEST_LOOKS.read_text(encoding="utf-8").splitlines())


def synthetic_entries(real: list[FaqEntry], total: int, seed: int = 7) -> list[FaqEntry]:
    """Extra entries built from the real guides' words, shuffled, so the index has realistic sizes."""
    rng = random.Random(seed)
    words = {
        lang: sorted({w for e in real for q in e.questions[lang] for w in q.split()}) for lang in ("ar", "en")
    }
    answer_words = {lang: sorted({w for e in real for w in e.answer[lang].split()}) for lang in ("ar", "en")}

    def sentence(pool: list[str], low: int, high: int) -> str:
        return " ".join(
            rng.choice(pool) + rng.choice(["", "", "ات", "ية", "ين"]) for _ in range(rng.randint(low, high))
        )

    extra = []
    for n in range(total - len(real)):
        extra.append(
            FaqEntry(
                id=f"synthetic-{n}",
                guide="synthetic",
                guide_title={"ar": "تجريبي", "en": "Synthetic"},
                section={"ar": "تجريبي", "en": "Synthetic"},
                questions={
                    "ar": [sentence(words["ar"], 3, 8) for _ in range(5)],
                    "en": [sentence(words["en"], 3, 8) for _ in range(3)],
                },
                answer={
                    "ar": sentence(answer_words["ar"], 20, 45),
                    "en": sentence(answer_words["en"], 20, 45),
                },
                action=None,
                sample=True,
                file="synthetic.yaml",
            )
        )
    return real + extra


def _percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * share))]


def latency(real: list[FaqEntry], questions: list[str], size: int, embeddings: bool = True) -> dict:
    """Wall-clock and CPU time: on a shared machine the wall clock also counts other processes' turns."""
    entries = synthetic_entries(real, size)
    wall, cpu = time.perf_counter(), time.process_time()
    FaqIndex.build(entries, embeddings=False)  # what `FaqPort.warm()` answers with while the model loads
    lexical_build, lexical_build_cpu = time.perf_counter() - wall, time.process_time() - cpu
    encoder = shared_encoder() if embeddings else None
    builds, build_cpu = [], []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "faq-embeddings.npz"
        for _run in range(3):
            if encoder is not None:
                # As a new process would: nothing in memory; from the second build on, the cache file.
                encoder.forget()
            wall, cpu = time.perf_counter(), time.process_time()
            index = FaqIndex.build(entries, embeddings=embeddings, embedding_cache=cache)
            builds.append(time.perf_counter() - wall)
            build_cpu.append(time.process_time() - cpu)
    for q in questions[:20]:
        index.query(q)
    timings, cpu_timings = [], []
    for _ in range(3):
        for q in questions:
            wall, cpu = time.perf_counter(), time.process_time()
            index.query(q)
            timings.append((time.perf_counter() - wall) * 1000)
            cpu_timings.append((time.process_time() - cpu) * 1000)
    timings.sort()
    cpu_timings.sort()
    return {
        "entries": len(entries),
        "build_lexical_s": lexical_build,
        "build_lexical_cpu_s": lexical_build_cpu,
        "build_first_s": builds[0],  # embeds every text (when embeddings are on)
        "build_cached_s": statistics.median(builds[1:]),  # vectors read from the cache file
        "build_cpu_first_s": build_cpu[0],
        "build_cpu_cached_s": statistics.median(build_cpu[1:]),
        "queries": len(timings),
        "p50_ms": _percentile(timings, 0.5),
        "p95_ms": _percentile(timings, 0.95),
        "max_ms": timings[-1],
        "cpu_p50_ms": _percentile(cpu_timings, 0.5),
        "cpu_p95_ms": _percentile(cpu_timings, 0.95),
        "load_average": os.getloadavg()[0],
    }


def _line(name: str, r: dict) -> str:
    near = f"  near-miss answered {r['near_miss_fp']:.1%}" if r.get("near_miss_fp") is not None else ""
    return (
        f"{name:>10}: in-scope {r['in_scope']:3d}  top-1 {r['top1']:.1%}  top-3 {r['top3']:.1%}  "
        f"confident-right {r['confident_right']:.1%}  likely-right {r['likely_right']:.1%}  "
        f"confident-wrong {r['confident_wrong']:.1%}  confident-or-likely wrong {r['answered_wrong']:.1%}  "
        f"unsure {r['unsure']:.1%} | out-of-scope {r['out_of_scope']:3d}  refused {r['oos_refused']:.1%}{near}"
    )


def print_report(report: dict, show_misses: bool) -> None:
    print("signals: " + ", ".join(report["signals"]))
    for name in ("blind_dev", "blind_test", "old_dev", "old_test"):
        if name in report:
            print(_line(name, report[name]))
            for style, r in report.get(f"{name}_by_style", {}).items():
                print(_line(f"  {style}", r))
    if "blind_test" in report:
        print(
            f"blind TEST (writer F) looked at {report['test_looks']} time(s) (bench/data/faq_blind_test_looks.log; "
            "the retired TEST parts, now DEV: A/B looked at 12 times, E once)"
        )
    lat = report.get("latency")
    if lat:
        print(
            f"latency @ {lat['entries']} entries: p50 {lat['p50_ms']:.2f} ms  p95 {lat['p95_ms']:.2f} ms  "
            f"max {lat['max_ms']:.2f} ms over {lat['queries']} queries (CPU p50 {lat['cpu_p50_ms']:.2f} ms, "
            f"p95 {lat['cpu_p95_ms']:.2f} ms)"
        )
        print(
            f"index build @ {lat['entries']} entries: {lat['build_first_s']:.2f} s cold (CPU "
            f"{lat['build_cpu_first_s']:.2f} s), {lat['build_cached_s']:.2f} s with the embedding cache file "
            f"(CPU {lat['build_cpu_cached_s']:.2f} s); lexical index alone {lat['build_lexical_s']:.2f} s "
            f"(CPU {lat['build_lexical_cpu_s']:.2f} s); load average {lat['load_average']:.1f}"
        )
    guides = report["guides"]
    print(
        f"real guides: {guides['entries']} entries, model load {guides['model_load_s']:.2f} s, "
        f"index build {guides['build_s']:.3f} s"
    )
    if show_misses:
        for name in ("blind_dev", "old_dev"):
            for miss in report.get(name, {}).get("misses", []):
                print(f"  [{name}] {miss['status']}: {miss['q']!r} want {miss['want']} got {miss['got']}")
            for answered in report.get(name, {}).get("oos_answered", []):
                print(f"  [{name}] OUT-OF-SCOPE {answered['status']}: {answered['q']!r} -> {answered['got']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--guides", type=Path, default=ROOT / "content" / "guides")
    parser.add_argument("--old", type=Path, default=ROOT / "bench" / "data" / "faq_eval.yaml")
    parser.add_argument("--entries", type=int, default=2000, help="index size for the latency part")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--misses", action="store_true", help="list DEV misses (never TEST)")
    parser.add_argument("--test", action="store_true", help="evaluate the blind TEST part (logged)")
    parser.add_argument("--calibrate", action="store_true", help="fit the decision on blind DEV and print it")
    parser.add_argument("--no-grid", action="store_true", help="with --calibrate: keep the ranking weights")
    parser.add_argument("--no-latency", action="store_true", help="skip the 2,000-entry latency part")
    parser.add_argument(
        "--lexical", action="store_true", help="without the sentence model (BOT_FAQ_EMBEDDINGS=0)"
    )
    parser.add_argument("--embeddings", action="store_true", help="with the sentence model (the default)")
    args = parser.parse_args()

    limits = threadpool_limits(limits=1) if threadpool_limits else None
    try:
        entries = load_guides(args.guides)
        blind = load_blind()
        # What the assistant runs by default: with the sentence model (bot/settings.py faq_embeddings).
        embeddings = not args.lexical
        if args.calibrate:
            from faq_calibrate import calibrate

            settings = calibrate(entries, blind["dev"], embeddings, grid=not args.no_grid)
            print(json.dumps(asdict(settings), indent=2))
            return
        started = time.perf_counter()
        if embeddings:
            shared_encoder()
        model_load_s = time.perf_counter() - started
        index = FaqIndex.build(entries, embeddings=embeddings)
        build_s = time.perf_counter() - started - model_load_s
        old = load_labelled(args.old)
        report = {
            "signals": index.signal_names,
            "settings": asdict(index.settings),
            "guides": {"entries": len(entries), "model_load_s": model_load_s, "build_s": build_s},
            "blind_dev": evaluate(index, blind["dev"], keep_misses=True),
            "blind_dev_by_style": by_group(index, blind["dev"]),
            "old_dev": evaluate(index, [i for i in old if i["split"] == "dev"], keep_misses=True),
            "old_test": evaluate(index, [i for i in old if i["split"] == "test"], keep_misses=False),
        }
        if args.test:
            # Looks 1-11 (to 2026-12-01T00:15) evaluated the ranker with the sentence model, then the default.
            mode = " --embeddings" if embeddings else " --lexical"
            record_test_look(f"bench/faq_eval.py --test{mode} {TEST_PART}")
            report["blind_test"] = evaluate(index, blind["test"], keep_misses=False)
            report["blind_test_by_style"] = by_group(index, blind["test"])
            report["test_looks"] = test_looks()
        if not args.no_latency:
            questions = [i["q"] for i in blind["dev"]] + [i["q"] for i in old]
            report["latency"] = latency(entries, questions, args.entries, embeddings)
    finally:
        if limits is not None:
            limits.unregister()
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print_report(report, args.misses)


if __name__ == "__main__":
    main()
