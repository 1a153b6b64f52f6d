"""The report's words in each locale: UI strings, partnership state names, country names."""

from __future__ import annotations

import re

__all__ = ["COUNTRIES", "STATE_NAMES", "UI", "country_key", "country_name", "state_name", "ui"]

UI: dict[str, dict[str, str]] = {
    "en": {
        "language": "English",
        "public_title": "Libraries Seeking Sisters",
        "public_intro": "These libraries would like a sister library abroad. "
        "Each of them applied to the {program} program and is waiting for a partner.",
        "public_count": "{n} libraries in {c} countries are looking for a sister library.",
        "public_count_one": "1 library is looking for a sister library.",
        "public_empty": "No library is waiting for a partner right now.",
        "how_to_apply": "How to apply",
        "apply_text": "Would your library like a sister library too? Write to the {program} "
        "program: give your library's name, type, country, city, working languages and what "
        "you would like to do together. The program answers in your language.",
        "countries": "Countries",
        "type": "Type",
        "place": "Place",
        "languages": "Working languages",
        "interests": "Interests",
        "as_of": "Figures as of {date}",
        "other_language": "Other language",
        "dashboard_title": "Program dashboard",
        "dashboard_intro": "Outcome measures of the {program} program, from its own records.",
        "summary": "Summary",
        "libraries": "Libraries",
        "seeking": "Seeking a partner",
        "partnered": "Partnered",
        "live_partnerships": "Live partnerships",
        "needs_person": "Messages that need a person",
        "bounced": "Bounced contacts",
        "by_country": "Libraries by country",
        "by_type": "Libraries by type",
        "by_state": "Libraries by state",
        "partnerships": "Partnerships",
        "funnel": "Partnership funnel",
        "funnel_note": "How many partnerships ever reached each stage (now in it).",
        "side_counts": "Ended or waiting",
        "reached": "reached",
        "now": "now",
        "timing": "Time to partnership",
        "timing_note": "Median days from a library's application, per library.",
        "to_offer": "Application to offer",
        "to_trial": "Application to introduction (trial)",
        "to_active": "Application to active partnership",
        "median_days": "Median days",
        "median_hours": "Median hours",
        "samples": "Samples",
        "response": "Response times",
        "response_note": "Hours from a mail to a library until that library's next message, "
        "in the same partnership.",
        "library_replies": "Library replies",
        "activities": "Activities logged per month",
        "month": "Month",
        "stalled_lapsed": "Stalled and lapsed pairs",
        "pair": "Pair",
        "state": "State",
        "since": "Since",
        "mentor": "Mentor",
        "needs_person_latest": "Latest messages that need a person",
        "received": "Received",
        "from": "From",
        "subject": "Subject",
        "reason": "Reason",
        "email": "Address",
        "library": "Library",
        "status": "Status",
        "bounces": "Bounces",
        "last_bounce": "Last bounce",
        "stories": "Success stories",
        "date": "Date",
        "machine": "Partnership states (from rules/)",
        "machine_note": "Boxes are states with the number of partnerships in each; arrows are "
        "the events that move a partnership.",
        "none": "None.",
        "count": "Count",
        "unknown": "not given",
        "public_page": "Public list",
        "dashboard_page": "Dashboard",
    },
    "zh": {
        "language": "中文",
        "public_title": "寻找姐妹馆的图书馆",
        "public_intro": "以下图书馆希望结识一所国外的姐妹图书馆。它们都已向{program}项目提出申请，正在等待合作伙伴。",
        "public_count": "共有 {c} 个国家的 {n} 所图书馆正在寻找姐妹图书馆。",
        "public_count_one": "共有 1 所图书馆正在寻找姐妹图书馆。",
        "public_empty": "目前没有正在等待合作伙伴的图书馆。",
        "how_to_apply": "如何申请",
        "apply_text": "贵馆也想结识姐妹图书馆吗？请写信给{program}项目，写明图书馆名称、类型、国家、城市、"
        "工作语言以及希望共同开展的活动。项目会用您的语言回复。",
        "countries": "国家",
        "type": "类型",
        "place": "地点",
        "languages": "工作语言",
        "interests": "合作兴趣",
        "as_of": "数据截至{date}",
        "other_language": "其他语言",
        "dashboard_title": "项目仪表板",
        "dashboard_intro": "{program}项目的成效指标，来自项目自身的记录。",
        "summary": "概览",
        "libraries": "图书馆",
        "seeking": "正在寻找伙伴",
        "partnered": "已结对",
        "live_partnerships": "进行中的合作",
        "needs_person": "需要人工处理的邮件",
        "bounced": "退信的联系人",
        "by_country": "各国图书馆数量",
        "by_type": "各类型图书馆数量",
        "by_state": "图书馆状态",
        "partnerships": "合作关系",
        "funnel": "合作进展漏斗",
        "funnel_note": "曾经到达各阶段的合作数量（括号内为当前数量）。",
        "side_counts": "已结束或等待中",
        "reached": "曾到达",
        "now": "当前",
        "timing": "结对所需时间",
        "timing_note": "从图书馆提交申请起计算的天数中位数（按图书馆计）。",
        "to_offer": "从申请到发出邀请",
        "to_trial": "从申请到介绍（试行）",
        "to_active": "从申请到正式合作",
        "median_days": "天数中位数",
        "median_hours": "小时数中位数",
        "samples": "样本数",
        "response": "回复时间",
        "response_note": "同一合作中，从发给图书馆的邮件到该馆下一封来信的小时数。",
        "library_replies": "图书馆回复",
        "activities": "每月记录的活动",
        "month": "月份",
        "stalled_lapsed": "停滞和失效的结对",
        "pair": "结对",
        "state": "状态",
        "since": "起始",
        "mentor": "导师",
        "needs_person_latest": "最近需要人工处理的邮件",
        "received": "收到时间",
        "from": "发件人",
        "subject": "主题",
        "reason": "原因",
        "email": "地址",
        "library": "图书馆",
        "status": "状态",
        "bounces": "退信次数",
        "last_bounce": "最近退信",
        "stories": "成功故事",
        "date": "日期",
        "machine": "合作状态图（来自 rules/）",
        "machine_note": "方框为状态及处于该状态的合作数量；箭头为推动合作变化的事件。",
        "none": "无。",
        "count": "数量",
        "unknown": "未填写",
        "public_page": "公开名单",
        "dashboard_page": "仪表板",
    },
}

STATE_NAMES: dict[str, tuple[str, str]] = {
    "new": ("new", "新建"), "proposed": ("proposed", "已提议"), "offered": ("offered", "已发邀请"),
    "trial": ("trial", "试行"), "mou_sent": ("MOU sent", "已发备忘录"), "active": ("active", "正式合作"),
    "renewal": ("renewal", "续约"), "stalled": ("stalled", "停滞"), "lapsed": ("lapsed", "邀请失效"),
    "dropped": ("dropped", "未获批准"), "declined": ("declined", "已婉拒"), "closed": ("closed", "已结束"),
    "seeking": ("seeking", "寻找伙伴"), "incomplete": ("incomplete", "资料不全"),
    "partnered": ("partnered", "已结对"), "unreachable": ("unreachable", "无法联系"),
    "hidden": ("hidden", "已隐藏"), "withdrawn": ("withdrawn", "已退出"),
}  # fmt: skip

# Canonical English name -> (Chinese name, other spellings libraries write).
COUNTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "China": ("中国", ("中华人民共和国", "PRC", "P.R. China", "People's Republic of China")),
    "Spain": ("西班牙", ("España", "Espana")), "Mexico": ("墨西哥", ("México",)),
    "United States": ("美国", ("USA", "US", "U.S.", "U.S.A.", "United States of America")),
    "United Kingdom": ("英国", ("UK", "U.K.", "Great Britain", "England")),
    "France": ("法国", ()), "Germany": ("德国", ("Deutschland",)), "Italy": ("意大利", ("Italia",)),
    "Japan": ("日本", ()), "Korea": ("韩国", ("South Korea", "Republic of Korea")),
    "Kenya": ("肯尼亚", ()), "Nigeria": ("尼日利亚", ()), "South Africa": ("南非", ()),
    "Brazil": ("巴西", ("Brasil",)), "Argentina": ("阿根廷", ()), "Chile": ("智利", ()),
    "Colombia": ("哥伦比亚", ()), "Peru": ("秘鲁", ("Perú",)), "Canada": ("加拿大", ()),
    "Australia": ("澳大利亚", ()), "New Zealand": ("新西兰", ()), "India": ("印度", ()),
    "Russia": ("俄罗斯", ("Russian Federation",)), "Portugal": ("葡萄牙", ()),
    "Egypt": ("埃及", ()), "Singapore": ("新加坡", ()), "Malaysia": ("马来西亚", ()),
    "Thailand": ("泰国", ()), "Vietnam": ("越南", ("Viet Nam",)), "Indonesia": ("印度尼西亚", ()),
    "Philippines": ("菲律宾", ()), "Tanzania": ("坦桑尼亚", ()), "Uganda": ("乌干达", ()),
    "Ghana": ("加纳", ()), "Ethiopia": ("埃塞俄比亚", ()), "Netherlands": ("荷兰", ()),
    "Sweden": ("瑞典", ()), "Norway": ("挪威", ()), "Finland": ("芬兰", ()), "Poland": ("波兰", ()),
    "Ireland": ("爱尔兰", ()), "Greece": ("希腊", ()), "Turkey": ("土耳其", ("Türkiye",)),
}  # fmt: skip
_ALIASES = {
    _norm: canonical
    for canonical, (zh, others) in COUNTRIES.items()
    for _norm in (re.sub(r"\s+", " ", n).strip().casefold() for n in (canonical, zh, *others))
}


def ui(locale: str) -> dict[str, str]:
    """The UI strings of ``locale`` (English for a locale without its own)."""
    return UI.get(locale.split("-")[0], UI["en"])


def country_key(value: str | None) -> str:
    """One spelling per country ("中国", "PRC" -> "China"); unknown countries as written."""
    text = re.sub(r"\s+", " ", value or "").strip()
    return _ALIASES.get(text.casefold(), text)


def country_name(key: str, locale: str = "en") -> str:
    """A ``country_key`` in the reader's language."""
    known = COUNTRIES.get(key)
    return known[0] if known and locale.startswith("zh") else key


def state_name(state: str, locale: str = "en") -> str:
    names = STATE_NAMES.get(state)
    return names[locale.startswith("zh")] if names else state
