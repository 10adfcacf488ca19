"""The thin orchestration layer the CLI calls: it may touch modules, retrieval and (later) the registry."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from ddr.errors import DataError

logger = logging.getLogger(__name__)


def run_demo(
    data: str,
    collections: Sequence[str],
    split: str,
    backbone_name: str,
    dtype: str,
    show: int,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> dict:
    """Encode each collection, search its judged queries, and score plain vs DDR (fresh general)."""
    from ddr.modules import DDREncoder, EncoderConfig, PrefixModule, load_backbone
    from ddr.retrieval.beir import collection_dirs, load_collection
    from ddr.retrieval.metrics import PRIMARY, evaluate
    from ddr.retrieval.search import search

    dirs = collection_dirs(data)
    if collections:
        wanted = set(collections)
        missing = wanted - {d.name for d in dirs}
        if missing:
            raise DataError(f"{data}: no collection named {', '.join(sorted(missing))}")
        dirs = [d for d in dirs if d.name in wanted]
    loaded = [load_collection(d, split) for d in dirs]  # fail on bad data before any encoding
    backbone = load_backbone(backbone_name)
    general = PrefixModule.create(backbone, "general", "general")
    encoder = DDREncoder(backbone, general, config=EncoderConfig(dtype=dtype))
    out: dict = {"backbone": backbone_name, "dtype": dtype, "split": split, "collections": {}}
    for coll in loaded:
        start = time.perf_counter()
        doc_ids, doc_texts = coll.passage_texts()
        qids, qtexts = coll.judged_queries()
        passages = encoder.encode_passages(doc_texts, show_progress=progress).numpy()
        queries = encoder.encode_queries(qtexts, route="none", show_progress=progress).numpy()
        plain_q = encoder.encode_queries(qtexts, route="plain").numpy()
        run = search(passages, doc_ids, queries, qids, k=100)
        row = {
            "documents": len(doc_ids),
            "queries": len(qids),
            "ddr_general": evaluate(coll.qrels, run),
            "plain": evaluate(coll.qrels, search(passages, doc_ids, plain_q, qids, k=100)),
            "seconds": round(time.perf_counter() - start, 1),
            "examples": [
                {"query": coll.queries[q], "top": [[d, round(s, 4), coll.corpus[d]["title"][:60]] for d, s in list(run[q].items())[:3]]}
                for q in qids[:show]
            ],
        }
        out["collections"][coll.name] = row
        if echo:
            echo(
                f"{coll.name}: {len(doc_ids)} docs, {len(qids)} queries, {PRIMARY} "
                f"ddr(general)={100 * row['ddr_general'][PRIMARY]:.1f} plain={100 * row['plain'][PRIMARY]:.1f} "
                f"({row['seconds']} s)"
            )
            for ex in row["examples"]:
                echo(f"  q: {ex['query'][:70]}")
                for d, s, title in ex["top"]:
                    echo(f"     {d:>10}  {s:.3f}  {title}")
    return out
