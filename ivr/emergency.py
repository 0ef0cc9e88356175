"""Emergency classifier for Chinese text: speech transcripts and web, SMS and other tickets.

`classify(text)` says whether the words describe an emergency happening now and which service
takes it: 110 police, 119 fire and rescue, 120 ambulance, 122 traffic accidents (DESIGN.md §2).
It runs on every transcript and every incoming ticket, so it is pure Python, needs no network
and does its work in a few regular-expression passes, whatever the length of the text.

The vocabulary is data (`data/emergency-zh.toml`, which also documents the rules in its own
terms); a `Classifier` can be built from another file for another language or dialect. Steps:

1. normalise: NFKC, lower case, traditional → simplified characters, whitespace dropped;
2. find every trigger and false friend, the longest term at each position;
3. drop a trigger that overlaps a false friend (火锅, 吃着火锅, 救命稻草, 打人工, 还要砍价), unless
   triggers cover the whole false friend: 着火爆炸 is 着火 + 爆炸, not 火爆;
4. drop a trigger that a negation cue precedes closely in its clause (没有着火, 不是火灾);
5. drop a trigger whose sentence segment holds a context marker: past, hypothetical or hearsay,
   habitual, administrative (去年着过火, 万一着火了怎么办, 经常出车祸, 车祸理赔), or one of its
   group's own `unless` words; drop it when its group `requires` a word the sentence lacks;
6. the surviving trigger of highest rank wins, the earliest on a tie.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_VOCABULARY", "SERVICES", "Classifier", "Verdict", "classify"]

DEFAULT_VOCABULARY = Path(__file__).with_name("data") / "emergency-zh.toml"
SERVICES = frozenset({"110", "119", "120", "122"})
MARKER_KINDS = frozenset({"past", "hypothetical", "habitual", "administrative"})

# After NFKC, full-width punctuation is ASCII; the ideographic full stop and comma are not.
_SENTENCE_END = re.compile(r"[.!?;。\n]")
_CLAUSE_END = re.compile(r"[.!?;。\n,、:：…]")
_WHITESPACE = re.compile(r"\s+")
# A term written "呼吸…困难" matches its parts with up to this many characters between them, all
# in one clause (呼吸很困难, 打他老婆, 流了一地血).
GAP = 3
_GAP_FILL = r"[^.!?;。\n,、:：…]"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the classifier decided. `keyword` is the trigger as found in the normalised text."""

    service: str | None
    keyword: str = ""
    reason: str = ""

    @property
    def is_emergency(self) -> bool:
        return self.service is not None


@dataclass(frozen=True, slots=True)
class _Group:
    name: str
    service: str
    rank: int
    unless: re.Pattern[str] | None
    requires: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    keyword: str
    group: _Group
    literal: bool


class _Spans:
    """Non-overlapping matches of one pattern in one text, for range queries by bisection."""

    __slots__ = ("ends", "starts", "words")

    def __init__(self, pattern: re.Pattern[str] | None, text: str) -> None:
        matches = list(pattern.finditer(text)) if pattern is not None else []
        self.starts = [m.start() for m in matches]
        self.ends = [m.end() for m in matches]
        self.words = [m.group() for m in matches]

    def inside(self, lo: int, hi: int, skip: Callable[[str], Any] | None = None) -> str | None:
        """A match lying wholly within [lo, hi), if any; `skip(word)` false passes a match by."""
        for i in range(bisect_left(self.starts, lo), len(self.starts)):
            if self.ends[i] > hi:
                break
            if skip is None or skip(self.words[i]):
                return self.words[i]
        return None

    def last_starting_before(self, pos: int) -> int | None:
        """Index of the last match that starts before `pos`."""
        i = bisect_left(self.starts, pos) - 1
        return i if i >= 0 else None


def _alternation(words: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted(set(words), key=lambda w: (-len(w), w))
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


def _trie_pattern(words: Iterable[str]) -> str:
    """One regular expression matching the longest of `words` at a position, as a trie.

    A flat alternation of hundreds of words is tried word by word at every character; the trie
    form lets the engine reject a position on its first character.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = "(?:" + "|".join(branches) + ")" if len(branches) > 1 or "" in node else branches[0]
        return body + "?" if "" in node else body

    return emit(trie)


def _strings(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"{where}.{key} must be a list of non-empty strings")
    return value


class Classifier:
    """An emergency classifier built from one vocabulary: the path of a TOML file, the parsed
    mapping of one, or nothing for the shipped Mandarin file. Malformed data raises ValueError."""

    def __init__(self, vocabulary: Mapping[str, Any] | str | Path | None = None) -> None:
        if vocabulary is None:
            vocabulary = DEFAULT_VOCABULARY
        if isinstance(vocabulary, (str, Path)):
            with Path(vocabulary).open("rb") as file:
                vocabulary = tomllib.load(file)
        self.language: str = str(vocabulary.get("language", ""))
        traditional = str(vocabulary.get("normalize", {}).get("traditional", ""))
        self._to_simplified = self._character_map(traditional)

        norm = self.normalize
        self._literal_owner: dict[str, _Group | None] = {}  # None marks a false friend
        self._patterns: list[tuple[re.Pattern[str], _Group]] = []
        for index, table in enumerate(vocabulary.get("groups", [])):
            self._add_group(table, f"groups[{index}]")
        for word in _strings(vocabulary.get("false_friends", {}), "terms", "false_friends"):
            owner = self._literal_owner.setdefault(norm(word), None)
            if owner is not None:
                raise ValueError(f"{word!r} is both a trigger ({owner.name}) and a false friend")
        if not any(self._literal_owner.values()) and not self._patterns:
            raise ValueError("the vocabulary has no trigger terms")
        self._scanner = (re.compile("(?=(" + _trie_pattern(self._literal_owner) + "))")
                         if self._literal_owner else None)

        negation = vocabulary.get("negation", {})
        self._window = int(negation.get("window", 5))
        cues = [norm(w) for w in _strings(negation, "cues", "negation")]
        self._not_cues = {norm(w) for w in _strings(negation, "not_cues", "negation")}
        self._cue_finder = _alternation([*cues, *self._not_cues])
        self._resets = _alternation(norm(w) for w in _strings(negation, "resets", "negation"))

        context = vocabulary.get("context", {})
        self._breaks = _alternation(norm(w) for w in _strings(context, "breaks", "context"))
        self._marker_kind: dict[str, str] = {}
        for kind in context.get("markers", {}):
            if kind not in MARKER_KINDS:
                raise ValueError(f"context.markers.{kind}: not one of {sorted(MARKER_KINDS)}")
            for word in _strings(context["markers"], kind, "context.markers"):
                self._marker_kind.setdefault(norm(word), kind)
        # Words that contain a marker but are none (收费站 is a place, not a fee): matched as one
        # word, so the marker inside them is never seen.
        for word in _strings(context, "not_markers", "context"):
            self._marker_kind[norm(word)] = ""
        self._markers = _alternation(self._marker_kind)

    # Loading -----------------------------------------------------------------------------

    @staticmethod
    def _character_map(pairs: str) -> dict[int, str]:
        mapping: dict[int, str] = {}
        for pair in pairs.split():
            if len(pair) != 2:
                raise ValueError(f"normalize.traditional: {pair!r} is not a two-character pair")
            mapping[ord(pair[0])] = pair[1]
        return mapping

    def _add_group(self, table: Mapping[str, Any], where: str) -> None:
        service = str(table.get("service", ""))
        if service not in SERVICES:
            raise ValueError(f"{where}.service must be one of {sorted(SERVICES)}, not {service!r}")
        norm = self.normalize
        group = _Group(
            name=str(table.get("name", where)),
            service=service,
            rank=int(table.get("rank", 0)),
            unless=_alternation(norm(w) for w in _strings(table, "unless", where)),
            requires=_alternation(norm(w) for w in _strings(table, "requires", where)),
        )
        gapped: list[str] = []
        for word in _strings(table, "terms", where):
            if "…" in word:
                gapped.append(self._gap_pattern(word, where))
                continue
            if "|" in word:
                raise ValueError(f"{where}: {word!r}: alternatives (|) only in terms with …")
            owner = self._literal_owner.setdefault(norm(word), group)
            if owner is not group:
                raise ValueError(f"{where}: {word!r} is already listed in another group")
        if gapped:
            self._patterns.append((re.compile("|".join(gapped)), group))
        for source in _strings(table, "patterns", where):
            self._patterns.append((re.compile(source), group))

    def _gap_pattern(self, word: str, where: str) -> str:
        """"拿着|举着…刀|斧头": each part one of its alternatives, up to GAP characters apart."""
        parts = []
        for part in word.split("…"):
            choices = sorted({self.normalize(choice) for choice in part.split("|")}, key=len,
                             reverse=True)
            if not all(choices):
                raise ValueError(f"{where}: {word!r} has an empty part around … or |")
            parts.append("(?:" + "|".join(map(re.escape, choices)) + ")")
        return f"{_GAP_FILL}{{0,{GAP}}}?".join(parts)

    # Classifying -------------------------------------------------------------------------

    def normalize(self, text: str) -> str:
        """The form every term is matched in: NFKC, lower case, simplified, no whitespace."""
        text = unicodedata.normalize("NFKC", text).lower().translate(self._to_simplified)
        return _WHITESPACE.sub("", text.replace("\n", "。"))

    def trigger_terms(self, service: str | None = None) -> list[str]:
        """The literal trigger terms (for a speech grammar, say), optionally of one service."""
        return sorted(word for word, group in self._literal_owner.items()
                      if group is not None and (service is None or group.service == service))

    def classify(self, text: str) -> Verdict:
        normalized = self.normalize(text or "")
        if not normalized:
            return Verdict(None, "", "empty text")
        hits, false_friends = self._scan(normalized)
        if not hits:
            return Verdict(None, "", "no emergency term")
        check = _Check(self, normalized, self._claimed(normalized, hits, false_friends))
        first_refusal = ""
        for hit in sorted(hits, key=lambda h: (-h.group.rank, h.start)):
            refusal = check.refusal(hit)
            if not refusal:
                return Verdict(hit.group.service, hit.keyword, f"{hit.group.name}: {hit.keyword}")
            first_refusal = first_refusal or refusal
        return Verdict(None, "", first_refusal)

    def _scan(self, text: str) -> tuple[list[_Hit], list[tuple[int, str]]]:
        hits: list[_Hit] = []
        false_friends: list[tuple[int, str]] = []
        for match in self._scanner.finditer(text) if self._scanner else ():
            word = match.group(1)
            group = self._literal_owner[word]
            if group is None:
                false_friends.append((match.start(), word))
            else:
                hits.append(_Hit(match.start(), match.start() + len(word), word, group, True))
        for pattern, group in self._patterns:
            core = "core" if "core" in pattern.groupindex else 0
            for match in pattern.finditer(text):
                hits.append(_Hit(match.start(core), match.end(core), match.group(core), group,
                                 False))
        return hits, false_friends

    @staticmethod
    def _claimed(text: str, hits: list[_Hit], false_friends: list[tuple[int, str]]) -> list[str]:
        """For each position, the false friend that claims it ("" for none).

        A false friend whose every character also belongs to a literal trigger claims nothing:
        the text reads better as those triggers (着火爆炸 is 着火 + 爆炸, 小偷偷东西 is 小偷 +
        偷东西).
        """
        claimed = [""] * len(text) if false_friends else []
        if not false_friends:
            return claimed
        in_trigger = bytearray(len(text))
        for hit in hits:
            if hit.literal:
                in_trigger[hit.start:hit.end] = b"\x01" * (hit.end - hit.start)
        for start, word in false_friends:
            end = start + len(word)
            if in_trigger.count(1, start, end) == end - start:
                continue
            for position in range(start, end):
                claimed[position] = claimed[position] or word
        return claimed


class _Check:
    """The per-text indexes the filters of `Classifier.classify` consult, built once per text."""

    def __init__(self, classifier: Classifier, text: str, claimed: list[str]) -> None:
        self.classifier = classifier
        self.text = text
        self.claimed = claimed
        self.sentence_ends = [m.start() for m in _SENTENCE_END.finditer(text)]
        self.clause_ends = [m.start() for m in _CLAUSE_END.finditer(text)]
        self.cues = _Spans(classifier._cue_finder, text)
        self.resets = _Spans(classifier._resets, text)
        self.breaks = _Spans(classifier._breaks, text)
        self.markers = _Spans(classifier._markers, text)
        self._group_spans: dict[tuple[_Group, str], _Spans] = {}

    def refusal(self, hit: _Hit) -> str:
        """Why `hit` does not make the text an emergency; "" when it does."""
        covering = next(filter(None, self.claimed[hit.start:hit.end]), "") if self.claimed else ""
        if covering:
            return f"false friend {covering} (not {hit.keyword})"
        sentence = self._sentence(hit.start)
        group = hit.group
        if group.requires is not None and self._group_word(group, "requires", *sentence) is None:
            return f"{hit.keyword} without a word the {group.name} group requires"
        cue = self._negation(hit.start)
        if cue:
            return f"negated: {cue} … {hit.keyword}"
        segment = self._segment(hit.start, *sentence)
        marker = self.markers.inside(*segment, skip=self.classifier._marker_kind.get)
        if marker:
            kind = self.classifier._marker_kind[marker]
            return f"{kind} context {marker} (for {hit.keyword})"
        if group.unless is not None:
            word = self._group_word(group, "unless", *segment)
            if word:
                return f"{word} (for {hit.keyword} in the {group.name} group)"
        return ""

    def _sentence(self, position: int) -> tuple[int, int]:
        i = bisect_left(self.sentence_ends, position)
        start = self.sentence_ends[i - 1] + 1 if i > 0 else 0
        end = self.sentence_ends[i] if i < len(self.sentence_ends) else len(self.text)
        return start, end

    def _segment(self, position: int, start: int, end: int) -> tuple[int, int]:
        """The part of the sentence [start, end) between the context breaks around `position`."""
        breaks = self.breaks.starts
        i = bisect_right(breaks, position)
        if i > 0 and breaks[i - 1] >= start:
            start = breaks[i - 1]
        if i < len(breaks) and breaks[i] < end:
            end = breaks[i]
        return start, end

    def _negation(self, position: int) -> str:
        i = self.cues.last_starting_before(position)
        if i is None:
            return ""
        cue, cue_end = self.cues.words[i], self.cues.ends[i]
        if cue in self.classifier._not_cues or position - cue_end > self.classifier._window:
            return ""
        if cue_end > position:  # the trigger starts inside the cue: 没有人受伤 is 没 + 有人受伤
            return cue
        clause_break = bisect_left(self.clause_ends, cue_end)
        if clause_break < len(self.clause_ends) and self.clause_ends[clause_break] < position:
            return ""
        if self.resets.inside(cue_end, position):
            return ""
        return cue

    def _group_word(self, group: _Group, which: str, lo: int, hi: int) -> str | None:
        key = (group, which)
        spans = self._group_spans.get(key)
        if spans is None:
            spans = self._group_spans[key] = _Spans(getattr(group, which), self.text)
        return spans.inside(lo, hi)


@functools.cache
def default_classifier() -> Classifier:
    """The classifier for the shipped Mandarin vocabulary, built once per process."""
    return Classifier()


def classify(text: str) -> Verdict:
    """Classify `text` with the shipped Mandarin vocabulary (see `Classifier.classify`)."""
    return default_classifier().classify(text)
