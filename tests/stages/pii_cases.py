"""A planted PII set and look-alikes, generated from a seed, for measuring redaction recall and false redactions.

Every case is one short document: `text` holds one number (or address) in a Chinese sentence and `expected` is
what `normalize` must turn it into (the placeholder for PII, the text unchanged for a look-alike). Look-alikes
are made hard on purpose: ID numbers with a wrong check character or birth date and order numbers are given a
valid Luhn digit where they can be, so a redactor that only checks Luhn calls them cards.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PROVINCES = (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54)
PROVINCES += (61, 62, 63, 64, 65)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
MOBILE_PREFIXES = ("130", "135", "138", "139", "147", "150", "153", "158", "166", "170", "177", "181", "186", "189")
MOBILE_PREFIXES += ("191", "198", "199")
PLACEHOLDER = {
    "id_card": "<ID_CARD>",
    "mobile": "<PHONE>",
    "email": "<EMAIL>",
    "ip": "<IP>",
    "bank_card": "<BANK_CARD>",
}

TEMPLATES = {
    "id_card": ("身份证号：{}，请核对。", "证件号码 {} 已登记", "持证人{}于今日办理", "请提供{}的复印件"),
    "mobile": ("联系电话：{}。", "有事请打{}找王老师", "手机 {} 周末也可以联系", "请拨打{}预约"),
    "bank_card": ("卡号：{}，请转账。", "退款打到这张卡{}上", "收款账户 {} 户名张三", "请把钱汇入{}后告知"),
    "email": ("邮箱：{}，欢迎来信", "请发送至{}。"),
    "ip": ("来源地址 {} 已封禁", "服务器{}心跳正常"),
}
NEUTRAL = ("编号为{}的记录已归档", "数值 {} 见附表", "备注：{}。", "参见{}")
CODE_LABELS = ("订单号：{}", "运单号 {}", "流水号{}", "商品编码：{}", "快递单号 {} 已签收")


@dataclass(frozen=True)
class Case:
    kind: str  # a PII kind, or "lookalike:<what>"
    value: str
    text: str
    expected: str


def luhn_digit(partial: str) -> str:
    """The check digit that makes `partial + digit` pass Luhn."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str(-total % 10)


def luhn_ok(digits: str) -> bool:
    return luhn_digit(digits[:-1]) == digits[-1]


def id_check(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def _id_body(rng: random.Random, date: str | None = None) -> str:
    region = f"{rng.choice(PROVINCES)}{rng.randint(1, 20):02d}{rng.randint(1, 30):02d}"
    if date is None:
        date = f"{rng.randint(1935, 2008)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    return region + date + f"{rng.randint(0, 999):03d}"


def _group_id(number: str, rng: random.Random) -> str:
    style = rng.choice(("plain", "plain", "6-8-4", "6-8-4", "6-4-4-4", "4x4-2"))
    sep = rng.choice((" ", "-")) if style != "plain" else ""
    if style == "6-8-4":
        return sep.join((number[:6], number[6:14], number[14:]))
    if style == "6-4-4-4":
        return sep.join((number[:6], number[6:10], number[10:14], number[14:]))
    if style == "4x4-2":
        return sep.join(number[i : i + 4] for i in range(0, 18, 4))
    return number


def valid_id(rng: random.Random) -> str:
    body = _id_body(rng)
    number = body + id_check(body)
    return number.lower() if number.endswith("X") and rng.random() < 0.3 else number


def bad_check_id(rng: random.Random) -> str:
    """Right region and birth date, wrong check character; Luhn-valid whenever the Luhn digit is wrong for the ID."""
    while True:
        body = _id_body(rng)
        right = id_check(body)
        wrong = luhn_digit(body) if rng.random() < 0.7 else rng.choice("0123456789X")
        if wrong != right:
            return body + wrong


def bad_date_id(rng: random.Random) -> str:
    """A correct check character over an impossible or implausible birth date (month 13, 30 February, 1850 ...)."""
    while True:
        date = rng.choice(
            (
                f"{rng.randint(1950, 2000)}13{rng.randint(1, 28):02d}",
                f"{rng.randint(1950, 2000)}00{rng.randint(1, 28):02d}",
                f"{rng.randint(1950, 2000)}{rng.randint(1, 12):02d}32",
                f"{rng.choice((1990, 1995, 2001))}0230",
                f"18{rng.randint(50, 89)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
                f"20{rng.randint(40, 90)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
            )
        )
        body = _id_body(rng, date)
        number = body + id_check(body)
        if number[-1] != "X" and (luhn_ok(number) or rng.random() < 0.5):
            return number


# (first digits, lengths) of real issuer ranges: China UnionPay banks, Visa, Mastercard, Amex, JCB, Discover
CARD_BINS = (
    ("622202", (19,)),
    ("622848", (19,)),
    ("621700", (19,)),
    ("622588", (16,)),
    ("621483", (16,)),
    ("625", (16,)),
    ("623058", (19,)),
    ("62", (16, 17, 18, 19)),
    ("4", (16,)),
    ("51", (16,)),
    ("55", (16,)),
    ("2221", (16,)),
    ("2720", (16,)),
    ("34", (15,)),
    ("37", (15,)),
    ("3528", (16,)),
    ("3589", (16,)),
    ("6011", (16,)),
    ("65", (16,)),
)


def _random_digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def valid_card(rng: random.Random) -> str:
    prefix, lengths = rng.choice(CARD_BINS)
    n = rng.choice(lengths)
    partial = prefix + _random_digits(rng, n - 1 - len(prefix))
    return partial + luhn_digit(partial)


def _group_card(number: str, rng: random.Random) -> str:
    sep = rng.choice((" ", "-"))
    style = rng.choice(("plain", "fours", "fours"))
    if len(number) == 15 and style == "fours" and rng.random() < 0.6:
        return sep.join((number[:4], number[4:10], number[10:]))  # how Amex prints it
    if len(number) == 19 and rng.random() < 0.2:
        return sep.join((number[:6], number[6:]))
    if style == "fours":
        return sep.join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


def valid_mobile(rng: random.Random) -> str:
    number = rng.choice(MOBILE_PREFIXES) + _random_digits(rng, 8)
    sep = rng.choice((" ", "-", "."))
    style = rng.choice(("plain", "3-4-4", "3-4-4", "4-3-4"))
    if style == "3-4-4":
        number = sep.join((number[:3], number[3:7], number[7:]))
    elif style == "4-3-4":
        number = sep.join((number[:4], number[4:7], number[7:]))
    prefix = rng.choice(("", "", "", "+86 ", "+86-", "+86", "0086 ", "(+86) "))
    return prefix + number


def _email(rng: random.Random) -> str:
    user = rng.choice(("zhang.san", "li_si", "wangwu", "chen.xw", "liu2024", "admin"))
    return f"{user}{rng.randint(1, 99)}@{rng.choice(('example.com', 'example.cn', 'mail.example.com'))}"


def _ip(rng: random.Random) -> str:
    return rng.choice(("203.0.113.", "198.51.100.", "192.0.2.", "10.8.0.")) + str(rng.randint(1, 254))


def pii_cases(seed: int = 20261203, n: int = 240) -> list[Case]:
    """`n` planted PII items: about a quarter each of ID numbers, mobiles and cards, the rest e-mail and IP."""
    rng = random.Random(seed)
    makers = {
        "id_card": lambda: _group_id(valid_id(rng), rng),
        "mobile": lambda: valid_mobile(rng),
        "bank_card": lambda: _group_card(valid_card(rng), rng),
        "email": lambda: _email(rng),
        "ip": lambda: _ip(rng),
    }
    plan = ["id_card", "mobile", "bank_card"] * (n * 2 // 7) + ["email", "ip"] * (n // 14)
    plan += ["mobile"] * (n - len(plan))
    cases = []
    for kind in plan:
        value = makers[kind]()
        template = rng.choice(TEMPLATES[kind] + NEUTRAL)
        cases.append(Case(kind, value, template.format(value), template.format(PLACEHOLDER[kind])))
    return cases


def _order_number(rng: random.Random) -> str:
    """An 18-19 digit order number that starts with a date and passes Luhn."""
    partial = f"20{rng.randint(18, 26)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    partial += _random_digits(rng, rng.choice((18, 19)) - 1 - len(partial))
    return partial + luhn_digit(partial)


def _luhn_code(rng: random.Random, first: str, lengths: tuple[int, ...]) -> str:
    partial = first + _random_digits(rng, rng.choice(lengths) - 1 - len(first))
    return partial + luhn_digit(partial)


def _bad_luhn_card(rng: random.Random) -> str:
    card = valid_card(rng)
    return card[:-1] + str((int(card[-1]) + rng.randint(1, 9)) % 10)


def _bad_prefix_mobile(rng: random.Random) -> str:
    prefix = rng.choice(("100", "110", "120", "128", "140", "154", "174", "194"))
    number = prefix + _random_digits(rng, 8)
    return rng.choice((number, f"{number[:3]} {number[3:7]} {number[7:]}", f"{number[:3]}-{number[3:7]}-{number[7:]}"))


def lookalike_cases(seed: int = 20261204) -> list[Case]:
    """Numbers that are not PII but have its shape, each kind several times."""
    rng = random.Random(seed)
    makers: list[tuple[str, int, object, tuple[str, ...]]] = [
        ("id_bad_check", 30, lambda: _group_id(bad_check_id(rng), rng), TEMPLATES["id_card"] + NEUTRAL),
        ("id_bad_date", 25, lambda: _group_id(bad_date_id(rng), rng), TEMPLATES["id_card"] + NEUTRAL),
        ("order_number", 20, lambda: _order_number(rng), NEUTRAL + CODE_LABELS),
        # Luhn-valid runs that start where no card network issues (1, 7, 8, 9, 30, 2000 ...)
        (
            "no_network",
            15,
            lambda: _luhn_code(rng, rng.choice(("1", "7", "8", "9", "30", "2000", "56")), (16, 17, 19)),
            NEUTRAL,
        ),
        # card-network prefixes in labelled codes: only the label says it is not a card
        (
            "labelled_code",
            10,
            lambda: _luhn_code(rng, rng.choice(("4", "62", "65", "3530")), (16, 19)),
            CODE_LABELS,
        ),
        ("card_bad_luhn", 15, lambda: _group_card(_bad_luhn_card(rng), rng), TEMPLATES["bank_card"]),
        ("mobile_bad_prefix", 15, lambda: _bad_prefix_mobile(rng), TEMPLATES["mobile"]),
        (
            "mobile_in_longer_run",
            8,
            lambda: rng.choice(MOBILE_PREFIXES) + _random_digits(rng, rng.choice((9, 10, 11))),
            NEUTRAL,
        ),
        (
            "landline",
            8,
            lambda: (
                rng.choice(("010-", "021-", "0571-", "(0755) ", "400-"))
                + rng.choice(
                    (
                        f"{_random_digits(rng, 4)} {_random_digits(rng, 4)}",
                        f"{_random_digits(rng, 3)}-{_random_digits(rng, 4)}",
                    )
                )
            ),
            TEMPLATES["mobile"],
        ),
        (
            "dotted_numbers",
            8,
            lambda: rng.choice(
                (
                    f"{rng.randint(2000, 2026)}.{rng.randint(1, 12):02d}.{rng.randint(1, 28):02d}",
                    f"{rng.randint(130, 199)}.{rng.randint(10, 99)}",
                    f"v{rng.randint(1, 19)}.{rng.randint(0, 9)}.{rng.randint(1000, 9999)}",
                    f"1.{rng.randint(2, 9)}.{rng.randint(3, 9)}.{rng.randint(4, 9)}.{rng.randint(5, 9)}",
                )
            ),
            NEUTRAL,
        ),
        (
            "grouped_serial",
            8,
            lambda: "-".join(
                (rng.choice(("1", "7", "8", "9")) + _random_digits(rng, 3), *(_random_digits(rng, 4) for _ in range(3)))
            ),
            NEUTRAL,
        ),
    ]
    cases = []
    for what, count, make, templates in makers:
        for _ in range(count):
            value = make()  # type: ignore[operator]
            text = rng.choice(templates).format(value)
            cases.append(Case(f"lookalike:{what}", value, text, text))
    return cases
