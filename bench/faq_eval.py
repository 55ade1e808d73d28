"""Evaluate the FAQ ranker: accuracy and confidence on dev and held-out test, and latency at 2,000 entries.

.venv/bin/python bench/faq_eval.py            # report
.venv/bin/python bench/faq_eval.py --json     # the same figures as JSON
.venv/bin/python bench/faq_eval.py --calibrate  # fit the confidence settings on the dev split only
.venv/bin/python bench/faq_eval.py --dev-only   # while tuning: leave the test split unseen
.venv/bin/python bench/faq_eval.py --lexical    # without the sentence embeddings
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

# Single-threaded BLAS so latency figures match a small shared server; threadpoolctl below does the same
# at run time when it is installed.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.faq import FaqEntry, FaqIndex, load_guides  # noqa: E402
from flows.faq.embedding import shared_encoder  # noqa: E402
from flows.faq.ranker import RankerSettings, Signals, confidence  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - the environment variables above already apply
    threadpool_limits = None


def load_items(path: Path) -> list[dict]:
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    for item in items:
        if item["split"] not in ("dev", "test"):
            raise SystemExit(f"bad split in {item}")
    return items


def evaluate(index: FaqIndex, items: list[dict]) -> dict:
    in_scope = [i for i in items if i["id"]]
    out_of_scope = [i for i in items if not i["id"]]
    top1 = top3 = confident_right = confident_wrong = unsure = 0
    reciprocal_rank = 0.0
    misses = []
    for item in in_scope:
        signals = index.signals(item["q"])
        ranked = [index.entries[i].id for i in signals.order] if signals else []
        result = index.decide(signals) if signals else index.query(item["q"])
        top1 += bool(ranked) and ranked[0] == item["id"]
        top3 += item["id"] in ranked[:3]
        reciprocal_rank += 1 / (ranked.index(item["id"]) + 1) if item["id"] in ranked else 0.0
        if result.status == "confident":
            if result.entry.id == item["id"]:
                confident_right += 1
            else:
                confident_wrong += 1
                misses.append({"q": item["q"], "want": item["id"], "got": result.entry.id, "confident": True})
        else:
            unsure += result.status == "unsure"
            if not ranked or ranked[0] != item["id"]:
                misses.append({"q": item["q"], "want": item["id"], "got": ranked[0] if ranked else None})
    rejected = none = 0
    answered = []
    for item in out_of_scope:
        result = index.query(item["q"])
        rejected += result.status != "confident"
        none += result.status == "none"
        if result.status == "confident":
            answered.append({"q": item["q"], "got": result.entry.id})
    n, m = len(in_scope), len(out_of_scope)
    return {
        "in_scope": n,
        "out_of_scope": m,
        "top1": top1 / n,
        "top3": top3 / n,
        "mrr": reciprocal_rank / n,
        "confident_right": confident_right / n,
        "wrong_confident": confident_wrong / n,
        "unsure": unsure / n,
        "oos_rejection": rejected / m if m else None,
        "oos_none": none / m if m else None,
        "misses": misses,
        "oos_answered": answered,
    }


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


def latency(real: list[FaqEntry], items: list[dict], size: int, embeddings: bool = True) -> dict:
    """Wall-clock and CPU time: on a shared machine the wall clock also counts other processes' turns."""
    entries = synthetic_entries(real, size)
    encoder = shared_encoder() if embeddings else None
    builds, build_cpu = [], []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "faq-embeddings.npz"
        for run in range(3):
            if encoder is not None and run:
                encoder.forget()  # as a new process would: only the cache file written by the first build
            wall, cpu = time.perf_counter(), time.process_time()
            index = FaqIndex.build(entries, embeddings=embeddings, embedding_cache=cache)
            builds.append(time.perf_counter() - wall)
            build_cpu.append(time.process_time() - cpu)
    questions = [i["q"] for i in items]
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


def held_out_phrasings(entries: list[FaqEntry], folds: int = 5) -> list[tuple[list[FaqEntry], list[dict]]]:
    """Guide phrasings held out of the index, fold by fold: many more unseen paraphrases than dev alone.

    Each fold removes every fifth phrasing of every entry (keeping at least one per language) and asks
    the removed ones, so tuning sees realistic near-misses without touching the test split.
    """
    out = []
    for fold in range(folds):
        kept, asked = [], []
        for entry in entries:
            questions = {}
            for lang, phrasings in entry.questions.items():
                keep = [q for n, q in enumerate(phrasings) if n % folds != fold] or phrasings[:1]
                questions[lang] = keep
                asked += [{"q": q, "id": entry.id, "split": "dev"} for q in phrasings if q not in keep]
            kept.append(replace(entry, questions=questions))
        out.append((kept, asked))
    return out


def _signal_rows(index: FaqIndex, items: list[dict]) -> list[tuple[Signals, bool, bool, bool]]:
    """(signals, in scope, best entry right, right entry in the top 3) for each question."""
    rows = []
    for item in items:
        signals = index.signals(item["q"])
        if signals:
            ranked = [index.entries[i].id for i in signals.order[:3]]
            rows.append((signals, bool(item["id"]), ranked[0] == item["id"], item["id"] in ranked))
    return rows


def _ranking_key(settings: RankerSettings, entries, dev, folds, embeddings: bool) -> tuple[float, float]:
    """Top-1, then MRR, averaged between dev and the held-out phrasings."""
    on_dev = evaluate(FaqIndex.build(entries, settings, embeddings), dev)
    on_folds = [evaluate(FaqIndex.build(kept, settings, embeddings), asked) for kept, asked in folds]
    top1 = (on_dev["top1"] + statistics.mean(r["top1"] for r in on_folds)) / 2
    mrr = (on_dev["mrr"] + statistics.mean(r["mrr"] for r in on_folds)) / 2
    return (round(top1, 6), round(mrr, 6))  # top-1 ties happen: then rank quality decides


def calibrate(
    entries: list[FaqEntry], items: list[dict], embeddings: bool, lexical_grid: bool
) -> RankerSettings:
    """Fit ranking weights, the confidence model and its thresholds on dev and held-out phrasings only.

    The lexical weights are searched with the embeddings off (only with `lexical_grid`: otherwise the
    current ones are kept), then the embedding weights on top of them.
    """
    from sklearn.linear_model import LogisticRegression

    dev = [i for i in items if i["split"] == "dev"]
    folds = held_out_phrasings(entries)
    best_weights, best_key = RankerSettings(), (-1.0, -1.0)
    lexical_weights = (
        itertools.product((0.0, 0.3), (0.0, 0.3), (0.0, 0.5, 1.0), (0.0, 0.5, 1.0), (1.0, 2.0), (0.0, 0.25))
        if lexical_grid
        else []
    )
    for answer_tfidf, answer_bm25, entry_tfidf, entry_bm25, bm25_weight, root_fallback in lexical_weights:
        settings = RankerSettings(
            answer_weight_tfidf=answer_tfidf,
            answer_weight_bm25=answer_bm25,
            entry_weight_tfidf=entry_tfidf,
            entry_weight_bm25=entry_bm25,
            bm25_weight=bm25_weight,
            root_fallback=root_fallback,
        )
        key = _ranking_key(replace(settings, embedding_weight=0.0), entries, dev, folds, embeddings=False)
        if key > best_key:
            best_weights, best_key = settings, key
    print(f"lexical weights: {best_weights} top-1 {best_key[0]:.3f} MRR {best_key[1]:.3f}", file=sys.stderr)
    if embeddings and shared_encoder() is not None:
        best_key = (-1.0, -1.0)
        for embedding_weight, answer_weight in itertools.product((0.0, 1.0, 2.0, 3.0, 4.0), (0.0, 0.5, 1.0)):
            settings = replace(
                best_weights, embedding_weight=embedding_weight, answer_weight_embedding=answer_weight
            )
            key = _ranking_key(settings, entries, dev, folds, embeddings=True)
            print(f"  embedding {embedding_weight} answer {answer_weight}: {key}", file=sys.stderr)
            if key > best_key:
                best_weights, best_key = settings, key
        print(
            f"with embeddings: {best_weights} top-1 {best_key[0]:.3f} MRR {best_key[1]:.3f}", file=sys.stderr
        )
    else:
        best_weights = replace(best_weights, embedding_weight=0.0)

    dev_rows = _signal_rows(FaqIndex.build(entries, best_weights, embeddings), dev)
    fold_rows = [
        row
        for kept, asked in folds
        for row in _signal_rows(FaqIndex.build(kept, best_weights, embeddings), asked)
    ]
    rows = dev_rows + fold_rows
    # Out-of-scope questions exist only in dev: weigh them up so they count as much as in-scope mistakes.
    out_weight = max(1.0, len(fold_rows) / max(1, sum(1 for _, in_scope, *_ in rows if not in_scope)) / 4)
    model = LogisticRegression(C=10.0, max_iter=1000).fit(
        [s.features() for s, *_ in rows],
        [right for _, _, right, _ in rows],
        sample_weight=[1.0 if in_scope else out_weight for _, in_scope, *_ in rows],
    )
    coef = tuple(round(c, 3) for c in (float(model.intercept_[0]), *(float(c) for c in model.coef_[0])))
    mode = "lexical" if rows[0][0].semantic is None else "semantic"
    fitted = replace(getattr(best_weights, mode), coef=coef)

    # Thresholds: at most 1.5% wrong confident answers over the in-scope questions (dev and held-out
    # phrasings) and at most 5% of dev's out-of-scope questions answered; then as many right answers as possible.
    n_in = sum(1 for _, in_scope, *_ in rows if in_scope)
    n_out = len(rows) - n_in
    fitted_settings = replace(best_weights, **{mode: fitted})
    probability = [confidence(signals, fitted_settings) for signals, *_ in rows]
    best, best_key = fitted, None
    for min_margin in (0.0, 0.5, 1.0, 1.5, 2.0):
        for confident_at in [x / 100 for x in range(50, 100)]:
            candidate = replace(fitted, min_margin=min_margin, confident_at=confident_at)
            right = wrong = answered_oos = 0
            for (signals, in_scope, correct, _), p in zip(rows, probability, strict=True):
                if not (signals.agree and signals.margin >= min_margin) or p < confident_at:
                    continue
                if in_scope:
                    right += correct
                    wrong += not correct
                else:
                    answered_oos += 1
            feasible = wrong / n_in <= 0.015 and answered_oos / max(n_out, 1) <= 0.05
            key = (feasible, right - 3 * wrong, -confident_at, -min_margin)
            if best_key is None or key > best_key:
                best, best_key = candidate, key

    # "unsure" shows suggestions: worth it when the right entry is among them, noise for out-of-scope.
    scored = [(p, in_scope, top3) for p, (_, in_scope, _, top3) in zip(probability, rows, strict=True)]
    best_unsure, best_gain = best.confident_at, None
    for unsure_at in [x / 100 for x in range(5, int(best.confident_at * 100) + 1)]:
        useful = sum(1 for p, in_scope, top3 in scored if in_scope and top3 and p >= unsure_at) / n_in
        clean = sum(1 for p, in_scope, _ in scored if not in_scope and p < unsure_at) / max(n_out, 1)
        if best_gain is None or useful + clean > best_gain:
            best_unsure, best_gain = unsure_at, useful + clean
    return replace(best_weights, **{mode: replace(best, unsure_at=best_unsure)})


def print_report(report: dict, show_test: bool) -> None:
    print("signals: " + ", ".join(report["signals"]))
    for split in [s for s in ("dev", "test", "all") if s in report]:
        r = report[split]
        print(
            f"{split:>4}: in-scope {r['in_scope']:3d}  top-1 {r['top1']:.1%}  top-3 {r['top3']:.1%}  "
            f"confident-right {r['confident_right']:.1%}  wrong-confident {r['wrong_confident']:.1%}  "
            f"unsure {r['unsure']:.1%} | out-of-scope {r['out_of_scope']:2d}  rejected {r['oos_rejection']:.1%}  "
            f"'none' {r['oos_none']:.1%}"
        )
    lat = report["latency"]
    print(
        f"latency @ {lat['entries']} entries: p50 {lat['p50_ms']:.2f} ms  p95 {lat['p95_ms']:.2f} ms  "
        f"max {lat['max_ms']:.2f} ms over {lat['queries']} queries (CPU p50 {lat['cpu_p50_ms']:.2f} ms, "
        f"p95 {lat['cpu_p95_ms']:.2f} ms)"
    )
    print(
        f"index build @ {lat['entries']} entries: {lat['build_first_s']:.2f} s first (CPU "
        f"{lat['build_cpu_first_s']:.2f} s), {lat['build_cached_s']:.2f} s with the embedding cache file "
        f"(CPU {lat['build_cpu_cached_s']:.2f} s); load average {lat['load_average']:.1f}"
    )
    guides = report["guides"]
    print(
        f"real guides: {guides['entries']} entries, model load {guides['model_load_s']:.2f} s, "
        f"index build {guides['build_s']:.3f} s"
    )
    for split in ("dev", "test") if show_test and "test" in report else ("dev",):
        for miss in report[split]["misses"]:
            flag = "WRONG-CONFIDENT" if miss.get("confident") else "top-1 miss"
            print(f"  [{split}] {flag}: {miss['q']!r} want {miss['want']} got {miss['got']}")
        for answered in report[split]["oos_answered"]:
            print(f"  [{split}] OUT-OF-SCOPE ANSWERED: {answered['q']!r} -> {answered['got']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--guides", type=Path, default=ROOT / "content" / "guides")
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data" / "faq_eval.yaml")
    parser.add_argument("--entries", type=int, default=2000, help="index size for the latency part")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--show-test", action="store_true", help="also list the test split's misses")
    parser.add_argument("--calibrate", action="store_true", help="fit settings on dev and print them")
    parser.add_argument(
        "--lexical-grid", action="store_true", help="with --calibrate: search lexical weights too"
    )
    parser.add_argument("--dev-only", action="store_true", help="do not evaluate (or print) the test split")
    parser.add_argument("--lexical", action="store_true", help="without the sentence embeddings")
    args = parser.parse_args()

    limits = threadpool_limits(limits=1) if threadpool_limits else None
    try:
        entries = load_guides(args.guides)
        items = load_items(args.data)
        embeddings = not args.lexical
        if args.calibrate:
            print(json.dumps(asdict(calibrate(entries, items, embeddings, args.lexical_grid)), indent=2))
            return
        started = time.perf_counter()
        if embeddings:
            shared_encoder()
        model_load_s = time.perf_counter() - started
        index = FaqIndex.build(entries, embeddings=embeddings)
        build_s = time.perf_counter() - started - model_load_s
        report = {
            "signals": index.signal_names,
            "settings": asdict(index.settings),
            "guides": {"entries": len(entries), "model_load_s": model_load_s, "build_s": build_s},
            "dev": evaluate(index, [i for i in items if i["split"] == "dev"]),
        }
        if not args.dev_only:
            report["test"] = evaluate(index, [i for i in items if i["split"] == "test"])
            report["all"] = evaluate(index, items)
        report["latency"] = latency(entries, items, args.entries, embeddings)
    finally:
        if limits is not None:
            limits.unregister()
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print_report(report, args.show_test)


if __name__ == "__main__":
    main()
