"""The emergency classifier (`hotline.ivr.emergency`): the labelled set's recall and false-positive
figures (run with `pytest -s` to see them printed), the false friends and negations the IVR issue
names, and the edges: empty, huge, mixed-script and traditional-character text, other vocabularies.

tests/data/emergency_sentences.tsv holds `label<TAB>sentence` lines, label 110/119/120/122/none.

Honest figures (2026-11-25): on the whole set recall 96.0 %, false positives 0.7 %; but the
vocabulary was written against the first 401 sentences, and four later batches scored BEFORE any
tuning on them gave recall 65-69 % and false positives 2-11 % (the last batch, never tuned on:
67.8 % / 5.8 %). Real-world recall will be near that until the vocabulary grows from real
transcripts and tickets; every miss printed by the recall test is from that last batch.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from hotline.ivr.emergency import DEFAULT_VOCABULARY, Classifier, Verdict, classify

SET = Path(__file__).resolve().parents[1] / "data" / "emergency_sentences.tsv"
LABELS = {"110", "119", "120", "122", "none"}
MIN_RECALL = 0.95
MAX_FALSE_POSITIVE_RATE = 0.01


def _load_set() -> list[tuple[str, str]]:
    lines = SET.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "label\tsentence"
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        label, sep, sentence = line.partition("\t")
        assert sep and label in LABELS and sentence.strip() and "\t" not in sentence, (number, line)
        rows.append((label, sentence))
    return rows


ROWS = _load_set()


# The labelled set ----------------------------------------------------------------------------

def test_the_set_is_large_balanced_and_without_duplicates() -> None:
    counts = Counter(label for label, _ in ROWS)
    emergencies = len(ROWS) - counts["none"]
    assert len(ROWS) >= 240
    assert emergencies >= len(ROWS) / 2
    assert all(counts[service] >= 40 for service in ("110", "119", "120", "122")), counts
    duplicates = [s for s, n in Counter(s for _, s in ROWS).items() if n > 1]
    assert not duplicates


def test_recall_and_false_positives_on_the_labelled_set() -> None:
    missed: list[str] = []  # an emergency not detected, or sent to the wrong service
    false_positives: list[str] = []
    emergencies = ordinary = 0
    for label, sentence in ROWS:
        verdict = classify(sentence)
        if label == "none":
            ordinary += 1
            if verdict.is_emergency:
                false_positives.append(f"  none → {verdict.service} [{verdict.keyword}] {sentence}")
        else:
            emergencies += 1
            if verdict.service != label:
                got = verdict.service or f"none ({verdict.reason})"
                missed.append(f"  {label} → {got} {sentence}")
    recall = 1 - len(missed) / emergencies
    false_positive_rate = len(false_positives) / ordinary
    report = "\n".join([
        f"emergency classifier on {SET.name}: {len(ROWS)} sentences",
        f"recall {recall:.1%} ({emergencies - len(missed)}/{emergencies} emergencies detected"
        f" and routed to the right service)",
        f"false positives {false_positive_rate:.1%} ({len(false_positives)}/{ordinary} ordinary"
        f" matters taken for emergencies)",
        f"missed ({len(missed)}):", *missed,
        f"false positives ({len(false_positives)}):", *false_positives,
    ])
    print("\n" + report)
    assert recall >= MIN_RECALL and false_positive_rate <= MAX_FALSE_POSITIVE_RATE, report


# What the issue names --------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "没有着火",
    "我家没有着火 是隔壁在烧纸",
    "不是火灾 是楼下餐馆的油烟",
    "我想退一张火车票",
    "昨天吃火锅吃坏了肚子 想投诉那家店",
    "最近老是上火 想问社区医院有没有中医",
    "12345是我最后的救命稻草了 工资拖了半年",
    # and the other false friends and non-urgent contexts the IVR must not transfer
    "超市卖的火腿过期了", "小卖部卖火柴给小孩子", "窗口的工作人员对我发火", "这家店生意火爆",
    "我要打人工服务", "打车软件乱扣费", "楼下烧烤店天天冒烟", "吸烟区的烟飘到办公室里了",
    "燃气灶打不着火了", "楼道堆满杂物 有火灾隐患", "想预约消防检查", "咨询120的收费标准",
    "车祸理赔咨询 对方保险公司不赔", "去年家里着过火 现在想问补助", "如果着火了怎么办",
    "咨询一下火灾保险怎么买", "早上两辆车剐蹭了 没人受伤", "并未发生交通事故 只是车被划了",
    "无人员伤亡 只是围墙倒了", "排队排得差点晕倒", "商家趁火打劫 口罩卖五十一包",
    "这停车费简直是抢劫", "楼上打架子鼓太吵", "吵死人了", "我们正吃着火锅 想问一下停车的事",
    "坐着火车去大理 想问一下景区门票", "这个路口经常出车祸 能不能装红绿灯",
    "出车祸以后残疾证怎么办", "我有心脏病 电梯坏了爬不了楼",
])
def test_false_friends_negations_and_non_urgent_contexts_do_not_trigger(text: str) -> None:
    verdict = classify(text)
    assert not verdict.is_emergency, verdict
    assert verdict.service is None and verdict.keyword == ""
    assert verdict.reason


@pytest.mark.parametrize(("text", "service"), [
    ("着火了", "119"),
    ("救命啊有人抢劫", "110"),
    ("我爸晕倒了", "120"),
    ("出车祸了", "122"),
    ("火锅店着火了", "119"),
    ("着火爆炸了", "119"),
    ("有小偷偷东西", "110"),
    ("去年着过火 今天又着火了", "119"),
    ("我家着火了 火车站旁边", "119"),
    ("没有人受伤 但是有人晕倒了", "120"),
    ("不是火灾 是有人在打人", "110"),
])
def test_emergencies_go_to_their_service(text: str, service: str) -> None:
    verdict = classify(text)
    assert verdict.service == service, verdict
    assert verdict.is_emergency and verdict.keyword and verdict.reason


@pytest.mark.parametrize(("text", "service"), [
    ("救命 快来人", "110"),  # a bare cry for help goes to the police
    ("救命 我爸晕倒了", "120"),  # anything more specific wins over it
    ("出车祸了 有人昏迷", "122"),  # a traffic accident is 122's, who bring the ambulance
    ("着火了 有人被困在楼上 还有人晕倒了", "119"),
    ("有人拿刀砍人 流了好多血", "110"),
    ("出车祸了 快叫救护车", "120"),  # the service the caller asks for
    ("有人要跳楼", "110"),
    ("他吃了安眠药自杀 现在叫不醒", "120"),  # self-harm already done is medical
])
def test_rank_decides_between_services(text: str, service: str) -> None:
    assert classify(text).service == service


# Edges -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", " ", "\n\t  \u3000\n", "。。。！！", "12345", "hello"])
def test_empty_blank_and_trigger_free_text(text: str) -> None:
    assert classify(text) == Verdict(None, "", classify(text).reason)
    assert not classify(text).is_emergency


@pytest.mark.parametrize(("text", "expected"), [
    (("我想咨询一下养老金的问题。" * 8000) + "我家着火了！", "119"),
    (("我想咨询一下养老金的问题，小区停水三天了。" * 5000), None),
    ("着火打人车祸晕倒" * 13000, "119"),
    (("如果着火了怎么办 " * 12000), None),
    (("吃着火锅坐着火车上火了救命稻草" * 7000), None),
    (("没有着火，不是火灾，没人受伤。" * 7000), None),
    ("火" * 100_000, None),
    ("a" * 100_000, None),
])
def test_very_long_text(text: str, expected: str | None) -> None:
    # No timing assertion (speed belongs in benchmarks); about 0.3 s at worst was seen here for
    # 100 K characters, and a quadratic matcher would take minutes.
    assert len(text.encode()) >= 100_000
    verdict = classify(text)
    assert verdict.service == expected, verdict


@pytest.mark.parametrize(("text", "service"), [
    ("HELP!!! 我家着火了!!! 地址:盘龙区xx路3栋2单元", "119"),
    ("【紧急】有人持刀伤人，在五华区123号，请尽快出警！！", "110"),
    ("我爸晕倒了!!!call 120 please", "120"),
    ("ＳＯＳ　出车祸了　在Ｇ５６杭瑞高速", "122"),  # full-width letters, digits and spaces
    ("我 家 着火 了 快 来", "119"),  # a speech transcript, one word per token
    ("著火了", "119"),
    ("救命 有人搶劫", "110"),
    ("我媽暈倒了", "120"),
    ("出車禍了", "122"),
    ("沒有著火", None),
    ("my house is on fire", None),  # the vocabulary is Mandarin (plus help, sos)
])
def test_punctuation_latin_digits_and_traditional_characters(
        text: str, service: str | None) -> None:
    assert classify(text).service == service


def test_verdict_is_a_frozen_value() -> None:
    verdict = classify("着火了")
    assert verdict == Verdict("119", "着火", verdict.reason) and verdict.is_emergency
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.service = "110"  # type: ignore[misc]


# Vocabulary as data ------------------------------------------------------------------------------

def test_the_shipped_vocabulary_is_the_default_and_lists_every_service() -> None:
    assert DEFAULT_VOCABULARY.name == "emergency-zh.toml" and DEFAULT_VOCABULARY.is_file()
    shipped = Classifier(DEFAULT_VOCABULARY)
    assert shipped.language == "zh"
    for service in ("110", "119", "120", "122"):
        assert shipped.trigger_terms(service)
    assert {"着火", "抢劫", "晕倒", "车祸"} <= set(shipped.trigger_terms())
    assert "火锅" not in shipped.trigger_terms()


def test_another_language_is_a_data_file(tmp_path: Path) -> None:
    korean = tmp_path / "emergency-ko.toml"
    korean.write_text("""
language = "ko"
[[groups]]
name = "fire"
service = "119"
rank = 50
terms = ["화재", "불이 났"]
[[groups]]
name = "medical"
service = "120"
rank = 30
terms = ["병원…가야", "쓰러졌"]
[[groups]]
name = "distress"
service = "110"
rank = 10
terms = ["살려", "도움"]
[false_friends]
terms = ["화재보험"]
[negation]
cues = ["안 "]
[context.markers]
administrative = ["문의"]
""", encoding="utf-8")
    classifier = Classifier(korean)
    assert classifier.classify("집에 불이 났어요").service == "119"
    assert classifier.classify("아버지가 쓰러졌어요 병원에 가야 해요").service == "120"
    assert classifier.classify("살려 주세요").service == "110"
    assert not classifier.classify("화재보험 문의").is_emergency
    assert not classifier.classify("화재 문의 드립니다").is_emergency


def test_gap_terms_with_alternatives() -> None:
    classifier = Classifier({"groups": [
        {"name": "weapon", "service": "110", "rank": 1, "terms": ["拿着|举着…刀|斧头"]},
    ]})
    assert classifier.classify("有人举着一把斧头").service == "110"
    assert classifier.classify("有人拿着刀").service == "110"
    assert not classifier.classify("有人拿着一个很大的包裹和刀").is_emergency  # too far apart
    assert not classifier.classify("有人拿着，刀").is_emergency  # not in one clause


@pytest.mark.parametrize(("vocabulary", "complaint"), [
    ({"groups": [{"service": "911", "terms": ["fire"]}]}, "service"),
    ({"groups": [{"service": "119", "terms": ["着火"]},
                 {"service": "110", "terms": ["着火"]}]}, "another group"),
    ({"groups": [{"service": "119", "terms": ["着火"]}],
      "false_friends": {"terms": ["着火"]}}, "false friend"),
    ({"groups": [{"service": "119", "terms": "着火"}]}, "list"),
    ({"groups": [{"service": "119", "terms": ["着火|起火"]}]}, "alternatives"),
    ({"groups": [{"service": "119", "terms": ["…着火"]}]}, "empty part"),
    ({"groups": []}, "no trigger"),
    ({"groups": [{"service": "119", "terms": ["着火"]}],
      "context": {"markers": {"someday": ["明天"]}}}, "someday"),
    ({"groups": [{"service": "119", "terms": ["着火"]}],
      "normalize": {"traditional": "著着火"}}, "pair"),
])
def test_malformed_vocabulary_is_refused(vocabulary: dict, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        Classifier(vocabulary)
