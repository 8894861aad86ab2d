"""Recurring custom steps: the text side of the nightly job (normalise, vectorise, group). No database.

A custom step is deal-level strategy; when reps write the same step on many deals ("security review with
IT", "IT security questionnaire", "Security questionnaire for IT team"), it belongs upstream, in a play
or an exit criterion. This module finds those groups; `upstream.evidence` measures them and
`upstream.recurrence_run` writes them as proposed promotions.

1. **Normalise** each title: accents and punctuation stripped, lower case, a small English stop-word
   list removed, a light stemmer (plural, -ing, -ed and a final -e: "pricing" and "price" both become
   "pric"). Short words that carry meaning in sales ("it", "poc", "roi", "msa") are kept: only
   one-letter words go.
2. **Deduplicate**: steps whose normalised texts are equal are one *text* from here on.
3. **Vectorise** every text with TF-IDF over two blocks of features, each L2-normalised:
   - words: the stemmed words;
   - character 3–5-grams inside word boundaries (" it ", " sec", "secu", …), each word's grams
     weighted so that every word weighs the same however long it is: the grams let "questionnaire" and
     "questionaire" or "onboarding" and "onboard" meet, without letting one long word outweigh the rest.
   similarity = WORD_WEIGHT × cosine(words) + (1 − WORD_WEIGHT) × cosine(grams), in [0, 1].
   IDF is over the organization's distinct texts, smoothed: log((1 + n + IDF_PRIOR_TEXTS) / (1 + df)) + 1.
4. **Pairs**: every pair of texts with similarity ≥ PAIR_FLOOR, exactly, from a sparse matrix product.
5. **Group** by average-linkage agglomerative clustering: the two groups with the highest average
   similarity over all their pairs of texts merge while that average is ≥ SIMILARITY_THRESHOLD (pairs
   below PAIR_FLOOR count as 0). Unlike single linkage (connected components) a chain A~B~C does not pull
   A and C together unless the whole group holds together on average.
6. Keep the groups whose steps span at least MIN_DEALS distinct deals.

Normalising and vectorising are plain Python (the text rules are ours, and small); the pair search, the
one quadratic step, is a scipy sparse product. A pure-Python inverted index with prefix filtering was
tried first: exact, but minutes on the bench's 20k steps, because short titles share many character
grams; scipy does the same in seconds (bench/recurrence_bench.py). scikit-learn's TF-IDF would add little
over it: the per-word weighting of the grams and the stemmer are ours either way.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# A group must span at least this many distinct deals to be proposed: two deals may be a coincidence,
# three make a pattern worth an ops review.
MIN_DEALS = 3
# Average-linkage cut: two groups merge while the mean similarity over all their pairs of texts reaches
# it. Tuned on tests/upstream/test_recurrence.py's near misses and the bench's themes.
SIMILARITY_THRESHOLD = 0.45
# Pairs below this floor are not kept (they count as 0 in the averages): low enough that a group's
# average is close to exact, high enough to keep the pair search fast.
PAIR_FLOOR = 0.3
WORD_WEIGHT = 0.5
# The pair search multiplies a band of rows by the rest at a time: at most about this many cells.
PAIR_BAND_CELLS = 4_000_000
CHAR_NGRAM_SIZES = (3, 4, 5)
# IDF counts this many more texts, none with any of the words: in an organization with a handful of
# custom steps, a word in all of them would otherwise weigh next to nothing ("security" in three
# rewordings of the security review). Against thousands of texts it changes nothing.
IDF_PRIOR_TEXTS = 20
# How many of a group's most frequent words make its signature.
KEY_TERMS = 3

# Function words only. "it" is deliberately absent: in a sales plan it is the IT department.
_STOP_WORDS = """
    a about above after again all also am an and any are as at be been before being below between both
    but by can could did do does doing done during each few for from further had has have having he her
    here hers him his how i if in into is its itself just me more most my no nor not of off on once only
    or other our ours out over own same she should so some such than that the their theirs them then
    there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
_WORD_RE = re.compile(r"[a-z0-9]+")


# Normalising ------------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case without accents: "Évaluation" → "evaluation"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def stem(word: str) -> str:
    """A light suffix stripper, enough to meet plural and verb forms of the same word: questionnaires →
    questionnair, pricing → pric, scheduled → schedul, meetings → meet. Words of up to 3 letters and
    numbers are left alone."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("eed"):
            word = word[: -len(suffix)]
            # running → run, planned → plan; but not "fill" → "fil" nor "access" → "acces".
            if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def normalize_tokens(text: str) -> tuple[str, ...]:
    """The stemmed words of a title, stop words and one-letter words removed, in order."""
    return tuple(stem(w) for w in _WORD_RE.findall(fold(text)) if len(w) > 1 and w not in STOP_WORDS)


def normalize(text: str) -> str:
    """The normalised text of a title: its tokens joined by spaces (the dedup key)."""
    return " ".join(normalize_tokens(text))


# Vectorising ------------------------------------------------------------------------------------------


def _char_grams(token: str) -> list[str]:
    padded = f" {token} "
    return [padded[i : i + n] for n in CHAR_NGRAM_SIZES for i in range(len(padded) - n + 1)]


def _raw_features(tokens: Sequence[str]) -> tuple[Counter, Counter]:
    words = Counter(tokens)
    grams: Counter = Counter()
    for token in tokens:
        token_grams = _char_grams(token)
        # Each word's grams together weigh as one word (norm 1 before IDF).
        share = 1 / math.sqrt(len(token_grams))
        for g in token_grams:
            grams[g] += share
    return words, grams


def vectorize(token_lists: Sequence[Sequence[str]]) -> list[dict[int, float]]:
    """One sparse unit vector per text: feature id → weight, the word block scaled by √WORD_WEIGHT and
    the gram block by √(1 − WORD_WEIGHT), so that the dot product of two vectors is the similarity
    defined in the module docstring. A text without tokens gets an empty vector (similar to nothing)."""
    raw = [_raw_features(tokens) for tokens in token_lists]
    n = len(raw)
    ids: dict[tuple[int, str], int] = {}
    df: Counter = Counter()
    for words, grams in raw:
        for block, features in ((0, words), (1, grams)):
            for f in features:
                df[ids.setdefault((block, f), len(ids))] += 1
    idf = {fid: math.log((1 + n + IDF_PRIOR_TEXTS) / (1 + count)) + 1 for fid, count in df.items()}
    scales = (math.sqrt(WORD_WEIGHT), math.sqrt(1 - WORD_WEIGHT))
    vectors = []
    for words, grams in raw:
        vector: dict[int, float] = {}
        for block, features in ((0, words), (1, grams)):
            weighted = {ids[(block, f)]: tf * idf[ids[(block, f)]] for f, tf in features.items()}
            norm = math.sqrt(sum(w * w for w in weighted.values()))
            if norm:
                scale = scales[block] / norm
                vector.update((fid, w * scale) for fid, w in weighted.items())
        vectors.append(vector)
    return vectors


def dot(a: dict[int, float], b: dict[int, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b[f] for f, w in a.items() if f in b)


def similarity(a: str, b: str) -> float:
    """The similarity of two titles within a corpus of just these two (for tests and debugging; the job
    weighs words by the whole organization's texts)."""
    va, vb = vectorize([normalize_tokens(a), normalize_tokens(b)])
    return dot(va, vb)


# Pairs ------------------------------------------------------------------------------------------------


def similar_pairs(
    vectors: Sequence[dict[int, float]], floor: float = PAIR_FLOOR
) -> dict[tuple[int, int], float]:
    """Every pair (i, j), i < j, whose similarity is ≥ `floor`, with its similarity.

    One sparse matrix product (scipy), a band of rows at a time so that memory stays bounded: this is the
    one quadratic step of the job, and in C it takes seconds where a pure-Python inverted index took
    minutes on the bench's 20k steps (short texts share many character grams)."""
    # Imported here: only the nightly job needs them, not every process that imports this module.
    import numpy as np
    from scipy import sparse

    n = len(vectors)
    if n < 2:
        return {}
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(v) for v in vectors])
    indices = np.fromiter((f for v in vectors for f in v), dtype=np.int64, count=int(indptr[-1]))
    data = np.fromiter((w for v in vectors for w in v.values()), dtype=np.float64, count=int(indptr[-1]))
    width = int(indices.max()) + 1 if len(indices) else 1
    matrix = sparse.csr_matrix((data, indices, indptr), shape=(n, width))
    band = max(1, PAIR_BAND_CELLS // n)
    pairs: dict[tuple[int, int], float] = {}
    for start in range(0, n, band):
        stop = min(start + band, n)
        # Rows start..stop against columns start..n: the upper triangle only.
        block = (matrix[start:stop] @ matrix[start:].T).tocoo()
        keep = (block.data >= floor) & (block.col > block.row)
        rows = block.row[keep] + start
        cols = block.col[keep] + start
        for i, j, s in zip(rows.tolist(), cols.tolist(), block.data[keep].tolist(), strict=True):
            pairs[(i, j)] = min(s, 1.0)
    return pairs


# Grouping ---------------------------------------------------------------------------------------------


def average_linkage(
    n: int, pairs: dict[tuple[int, int], float], threshold: float = SIMILARITY_THRESHOLD
) -> list[list[int]]:
    """Average-linkage agglomerative clustering of items 0..n-1 given their pairwise similarities
    (missing pairs are 0). Repeatedly merges the two clusters with the highest mean similarity over all
    cross pairs, while it is ≥ `threshold`. Returns the clusters (sorted item lists), singletons
    included, in order of their smallest item. Deterministic: ties go to the lower cluster ids."""
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    # Sum of the similarities between two live clusters, for the pairs that have one.
    sums: dict[int, dict[int, float]] = defaultdict(dict)
    for (i, j), s in pairs.items():
        sums[i][j] = s
        sums[j][i] = s
    heap = [(-s, i, j) for (i, j), s in pairs.items() if s >= threshold]
    heapq.heapify(heap)
    next_id = n
    while heap:
        negative, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue  # one of them was merged since this entry was pushed
        merged = next_id
        next_id += 1
        members[merged] = members.pop(a) + members.pop(b)
        combined: dict[int, float] = defaultdict(float)
        for old in (a, b):
            for other, s in sums.pop(old, {}).items():
                if other not in (a, b):
                    combined[other] += s
                    del sums[other][old]
        size = len(members[merged])
        for other, s in combined.items():
            sums[merged][other] = s
            sums[other][merged] = s
            mean = s / (size * len(members[other]))
            if mean >= threshold:
                heapq.heappush(heap, (-mean, min(merged, other), max(merged, other)))
    return sorted((sorted(m) for m in members.values()), key=lambda m: m[0])


# Groups of steps --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepText:
    """The little of a custom step that grouping needs."""

    id: int
    deal_id: int
    title: str


@dataclass
class Group:
    """Custom steps that recur across deals, with the words that name them."""

    step_ids: list[int]
    deal_ids: list[int]
    # Distinct normalised texts in the group.
    texts: list[str]
    # Stem → how many of the group's steps use it.
    term_counts: Counter
    # Distinct titles (as written, first spelling seen) with their step counts, most common first.
    titles: list[tuple[str, int]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.titles[0][0] if self.titles else ""

    def key_terms(self, limit: int = KEY_TERMS) -> tuple[str, ...]:
        """The `limit` stems used by the most steps (ties alphabetical), sorted."""
        ranked = sorted(self.term_counts.items(), key=lambda item: (-item[1], item[0]))
        return tuple(sorted(term for term, _ in ranked[:limit]))

    def signature(self, limit: int = KEY_TERMS) -> str:
        """A stable key of the group: the same words name it as long as the same words dominate, however
        many steps join (upstream.recurrence_run also recognises a group by its steps)."""
        return signature_of(self.key_terms(limit))


def signature_of(key_terms: Iterable[str]) -> str:
    """A stable key of a group: the sha-256 (hex, 64 characters) of its sorted key terms."""
    return hashlib.sha256("|".join(sorted(key_terms)).encode()).hexdigest()


def rank_titles(titles: Iterable[str]) -> list[tuple[str, int]]:
    """Distinct titles, told apart case- and space-insensitively, each with its count and the spelling
    seen first; most common first, then alphabetical."""
    counts: Counter = Counter()
    spelling: dict[str, str] = {}
    for title in titles:
        clean = " ".join(title.split())
        key = clean.casefold()
        spelling.setdefault(key, clean)
        counts[key] += 1
    return sorted(((spelling[k], c) for k, c in counts.items()), key=lambda tc: (-tc[1], tc[0].casefold()))


def find_groups(
    steps: Iterable[StepText],
    *,
    min_deals: int = MIN_DEALS,
    threshold: float = SIMILARITY_THRESHOLD,
    floor: float = PAIR_FLOOR,
) -> list[Group]:
    """Group the steps whose titles say the same thing (module docstring) and return the groups that
    span at least `min_deals` distinct deals, largest first (by deals, then steps, then title)."""
    by_text: dict[str, list[StepText]] = defaultdict(list)
    tokens_of: dict[str, tuple[str, ...]] = {}
    for step in steps:
        tokens = normalize_tokens(step.title)
        if not tokens:
            continue
        key = " ".join(tokens)
        by_text[key].append(step)
        tokens_of[key] = tokens
    texts = sorted(by_text)
    vectors = vectorize([tokens_of[t] for t in texts])
    pairs = similar_pairs(vectors, floor=min(floor, threshold))
    groups = []
    for cluster in average_linkage(len(texts), pairs, threshold):
        members = [s for i in cluster for s in by_text[texts[i]]]
        deal_ids = sorted({s.deal_id for s in members})
        if len(deal_ids) < min_deals:
            continue
        cluster_texts = [texts[i] for i in cluster]
        term_counts: Counter = Counter()
        for t in cluster_texts:
            for term in set(tokens_of[t]):
                term_counts[term] += len(by_text[t])
        groups.append(
            Group(
                step_ids=sorted(s.id for s in members),
                deal_ids=deal_ids,
                texts=cluster_texts,
                term_counts=term_counts,
                titles=rank_titles(s.title for s in sorted(members, key=lambda s: s.id)),
            )
        )
    groups.sort(key=lambda g: (-len(g.deal_ids), -len(g.step_ids), g.title.casefold()))
    return groups
