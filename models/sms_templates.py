"""The mainland providers' templates: what each provider was asked to approve, and the checks
a row's parameters pass before it is queued for one of them.

Alibaba Cloud SMS (`aliyun`) and Tencent Cloud SMS (`tencent`) send only pre-approved templates
under a signature (【签名】), filled with parameters they limit. The registry
(`models/sms_templates.toml`, data in the repository) holds, for every key of
`models.templates.TEMPLATES` and each provider, the approved code, the signature, the category
and the text in the provider's syntax. `prepare` turns one outbound row's key and parameters
into what the provider is sent, or raises `TemplateError`; a value too long for one variable is
cut over the template's slots where its entry allows it, never truncated.

The limits, from the providers' documentation (checked 2026-12):

- Alibaba, notification and marketing: each value 1 to 35 characters ("通知短信模板规范",
  help.aliyun.com/document_detail/463270.htm; the 35 applies to templates applied for since
  2018-01-10, developer.aliyun.com/ask/220871). Verification: one variable of 4 to 6 digits or
  letters ("验证码模板规范", help.aliyun.com/document_detail/463237.htm). No two variables side
  by side, not even with only punctuation between (``${time}, ${place}`` is refused: "Digital
  SMS template specifications", help.aliyun.com/en/sms/user-guide/digital-sms-template-specifications).
- Tencent: ``{1}``, ``{2}``, numbered from 1 in order; verification values up to 6 digits;
  other values up to 12 characters on an account certified as a person and no per-variable
  limit on an organisation's account ("正文模板审核标准", tencentcloud.com/document/product/382/40659;
  cloud.tencent.com/document/product/382/39023 now says to read the figure on the console's
  template page). Neither allows a template of variables only.
- Both: the whole message, signature included, at most 500 characters; 【】 never inside a
  template; marketing templates end with 拒收请回复R, and notifications must not carry it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from models.segments import SegmentInfo, count_template_segments
from models.templates import TEMPLATES, placeholders

REGISTRY_PATH = Path(__file__).with_name("sms_templates.toml")

ALIYUN = "aliyun"
TENCENT = "tencent"
PROVIDERS = (ALIYUN, TENCENT)

VERIFICATION = "verification"  # 验证码
NOTIFICATION = "notification"  # 通知
MARKETING = "marketing"  # 推广
CATEGORIES = (VERIFICATION, NOTIFICATION, MARKETING)
# A spoken template (语音通知模板): what a provider without a live IVR says on a call we place.
VOICE = "voice"
# Tencent Cloud VMS: "语音消息的内容长度不超过350字" (SendTtsVoice, API 2020-09-02).
VOICE_MAX = 350

# Characters a value may hold in one variable, for notification and marketing templates; None:
# no per-variable limit. The settings ALIYUN_SMS_PARAM_MAX and TENCENT_SMS_PARAM_MAX override it.
DEFAULT_MAX_VALUE: dict[str, int | None] = {ALIYUN: 35, TENCENT: None}
# Verification codes: Alibaba takes 4 to 6 digits or letters, Tencent 0 to 6 digits.
CODE_LENGTH = {ALIYUN: (4, 6), TENCENT: (1, 6)}
MAX_MESSAGE = 500  # characters, signature included, either provider
ONE_MESSAGE = 70  # what `check` asks of every template that is not split over slots

MARKETING_SUFFIX = "拒收请回复R"
VERIFICATION_WORDS = ("验证码", "注册码", "校验码", "动态码")
# Words both providers refuse in a template ("模板申请受限业务" and "正文模板审核标准" above):
# legal rights defence, recruitment and interviews, party-and-government content, mediation.
FORBIDDEN_WORDS = ("法律维权", "维权", "面试", "招聘", "党政", "调解")

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LINK = re.compile(r"https?://|www\.|\.(?:com|cn|net|org)\b", re.IGNORECASE)
# Where a long value may be cut: at punctuation or spaces, which the template's own fixed text
# (",另外") replaces at the cut. ASCII commas and the like break only where no digit follows
# (1,000), full stops and colons only before a space or the end (12.工资条例, 20:30).
_BREAK = re.compile(r"(?:[\s，。；：！？、]|[,;!?](?!\d)|[.:](?=\s|$))+")


class RegistryError(ValueError):
    """The registry file cannot be read as a registry (named in one line)."""


class TemplateError(ValueError):
    """A row cannot be sent through a template provider: which template, parameter and limit.

    `code` is the short form kept as the row's error code (at most 64 characters).
    """

    def __init__(
        self,
        provider: str,
        key: str,
        reason: str,
        detail: str,
        *,
        param: str | None = None,
        limit: int | None = None,
    ) -> None:
        self.provider = provider
        self.key = key
        self.param = param
        self.limit = limit
        self.reason = reason
        where = f"{key}.{param}" if param else key
        super().__init__(f"{provider} template {where}: {detail}")

    @property
    def code(self) -> str:
        """The reason in one token, e.g. ``template:too_long:help_resolved.note>35``."""
        where = f"{self.key}.{self.param}" if self.param else self.key
        limit = f">{self.limit}" if self.limit is not None else ""
        return f"template:{self.reason}:{where}{limit}"[:64]


@dataclass(frozen=True)
class ProviderTemplate:
    """One template as one provider knows it.

    `text` is in the provider's syntax (``${name}`` for Alibaba, ``{1}`` for Tencent);
    `variables` are the names our parameters fill, in the order the provider numbers them.
    A key whose entry is split has one template per number of `slots`; the others have one.
    """

    provider: str
    key: str
    category: str
    text: str
    source: str  # the text with ${name} variables, whatever the provider
    variables: tuple[str, ...]
    code: str
    sign_name: str
    approved: bool
    slots: int = 1
    split: str | None = None
    if_empty: Mapping[str, str] = field(default_factory=dict)
    samples: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # the entry's own

    @property
    def name(self) -> str:
        """How we name it: the key, with the number of slots for a split form (broadcast.2)."""
        return f"{self.key}.{self.slots}" if self.slots > 1 else self.key

    def parameter(self, variable: str) -> str:
        """Our parameter a variable takes its value from (a slot's is the split parameter)."""
        return self.split if self.split and _is_slot(self.split, variable) else variable

    def slot_index(self, variable: str) -> int | None:
        """0 for ${text} or ${text1}, 1 for ${text2}, ...; None for a variable not a slot."""
        if not self.split or not _is_slot(self.split, variable):
            return None
        return int(variable[len(self.split) :] or 1) - 1

    def fill(self, values: Mapping[str, str]) -> str:
        """The text the member reads after the signature, with these variable values."""
        return _VARIABLE.sub(lambda m: values[m.group(1)], self.source)


# The voice prompts the system plays: the monthly report's question, and the answers to its
# keys 1 and 2 (ivr_flows.keyed).
VOICE_REPORT_QUESTION = "report_question"
VOICE_ANSWERS = {"1": "report_studied", "2": "report_not_studied"}
VOICE_KEYS = (VOICE_REPORT_QUESTION, *VOICE_ANSWERS.values())
# Which of them each provider's calls play: Alibaba's IvrCall the question and the answers to
# its keys; Tencent's voice message the question (the key comes back in a callback).
VOICE_USES = {ALIYUN: VOICE_KEYS, TENCENT: (VOICE_REPORT_QUESTION,)}


@dataclass(frozen=True)
class Registry:
    """Every template per provider and key, with the example values `check` and `pending` use."""

    templates: Mapping[tuple[str, str], tuple[ProviderTemplate, ...]]
    sign_names: Mapping[str, str]
    samples: Mapping[str, tuple[str, ...]]
    keys: tuple[str, ...]
    # The spoken templates (`[voice.<key>]`), by provider and key; a provider may have none.
    voice: Mapping[tuple[str, str], ProviderTemplate] = field(default_factory=dict)
    voice_keys: tuple[str, ...] = ()

    def forms(self, provider: str, key: str) -> tuple[ProviderTemplate, ...]:
        """The provider's templates for a key, by number of slots (one unless split)."""
        return self.templates.get((provider, key), ())

    def all(self, provider: str) -> list[ProviderTemplate]:
        """Every template of one provider, in the file's order."""
        return [form for key in self.keys for form in self.forms(provider, key)]


@dataclass(frozen=True)
class TemplateRules:
    """The limits of the template provider a township sends through.

    `max_value` is the most characters one variable of a notification or marketing template
    holds (None: no limit); verification codes have the provider's fixed limits.
    """

    provider: str
    max_value: int | None
    # The account's approved signature ({PROVIDER}_SMS_SIGN_NAME); '' : the registry's.
    sign_name: str = ""

    @classmethod
    def for_provider(cls, provider: str, sign_name: str = "") -> TemplateRules:
        """The provider's documented limits."""
        if provider not in PROVIDERS:
            raise ValueError(f"not a template provider: {provider!r}")
        return cls(provider, DEFAULT_MAX_VALUE[provider], sign_name)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TemplateRules | None:
        """The rules for the settings' PROVIDER, or None when it sends text (twilio, sandbox).

        ALIYUN_SMS_PARAM_MAX / TENCENT_SMS_PARAM_MAX, when set, give the per-variable limit
        (0: none).
        """
        provider = str(config.get("PROVIDER", ""))
        if provider not in PROVIDERS:
            return None
        sign_name = str(config.get(f"{provider.upper()}_SMS_SIGN_NAME") or "")
        setting = config.get(f"{provider.upper()}_SMS_PARAM_MAX")
        if setting is None:
            return cls.for_provider(provider, sign_name)
        return cls(provider, int(setting) or None, sign_name)


@dataclass(frozen=True)
class PreparedSms:
    """What a provider is sent for one row: the template, its values, and the text they make."""

    template: ProviderTemplate
    values: Mapping[str, str]  # by variable name, in the template's order
    sign_name: str = ""  # the signature it goes under ('' : the template's)

    @property
    def params(self) -> dict[str, str] | list[str]:
        """The parameters in the provider's shape: Alibaba's by name, Tencent's by position."""
        if self.template.provider == TENCENT:
            return [self.values[name] for name in self.template.variables]
        return dict(self.values)

    @property
    def text(self) -> str:
        """The text after the signature, as the member reads it."""
        return self.template.fill(self.values)

    @property
    def segments(self) -> SegmentInfo:
        """Its length and messages counted with the signature, as the provider bills it."""
        return count_template_segments(self.sign_name or self.template.sign_name, self.text)


# --- Reading the registry --------------------------------------------------------------------


@cache
def registry() -> Registry:
    """The registry shipped in the repository (read once per process)."""
    return load_registry(REGISTRY_PATH)


def load_registry(path: Path) -> Registry:
    """Read a registry file; RegistryError if it is not TOML or not shaped as one."""
    try:
        return parse_registry(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegistryError(f"cannot read {path}: {exc}") from exc


def parse_registry(text: str) -> Registry:
    """Read a registry from TOML text (see the comments at the top of sms_templates.toml)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"not valid TOML: {exc}") from exc
    return build_registry(data)


def build_registry(data: Mapping[str, Any]) -> Registry:
    """A registry from the file's tables, as `tomllib` reads them."""
    sign_names = {p: str(_table(data, p, "").get("sign_name", "")) for p in PROVIDERS}
    samples = _samples(_table(data, "samples", ""))
    entries = _table(data, "templates", "")
    templates: dict[tuple[str, str], tuple[ProviderTemplate, ...]] = {}
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise RegistryError(f"templates.{key} must be a table")
        for provider in PROVIDERS:
            templates[(provider, key)] = _forms(key, entry, provider, sign_names[provider])
    voice = _voice_templates(_table(data, "voice", ""))
    voice_keys = tuple(dict.fromkeys(key for _, key in voice))
    return Registry(templates, sign_names, samples, tuple(entries), voice, voice_keys)


def _voice_templates(entries: Mapping[str, Any]) -> dict[tuple[str, str], ProviderTemplate]:
    """The `[voice.<key>]` entries: a text spoken as it is (no signature), per provider that
    has a table for it (`code`, `approved`, optionally its own `text`)."""
    found = {}
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise RegistryError(f"voice.{key} must be a table")
        for provider in PROVIDERS:
            mine = entry.get(provider)
            if mine is None:
                continue
            if not isinstance(mine, dict):
                raise RegistryError(f"voice.{key}.{provider} must be a table")
            source = mine.get("text", entry.get("text"))
            if not isinstance(source, str) or not source:
                raise RegistryError(f"voice.{key} has no text")
            variables = tuple(m.group(1) for m in _VARIABLE.finditer(source))
            found[(provider, key)] = ProviderTemplate(
                provider=provider,
                key=key,
                category=VOICE,
                text=_in_syntax(provider, source, variables),
                source=source,
                variables=variables,
                code=str(mine.get("code", "")),
                sign_name="",
                approved=bool(mine.get("approved", False)),
            )
    return found


def _samples(table: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Example values by parameter: one, or a split parameter's one per slot."""
    return {
        name: tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)
        for name, value in table.items()
    }


def _table(data: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise RegistryError(f"{where}{name} must be a table")
    return value


def _forms(
    key: str, entry: Mapping[str, Any], provider: str, default_sign: str
) -> tuple[ProviderTemplate, ...]:
    """A key's templates for one provider: its forms, or the entry itself as the one form."""
    split = entry.get("split")
    if split is not None and "forms" not in entry:
        raise RegistryError(f"templates.{key} is split over `{split}` but lists no forms")
    forms = entry.get("forms", [entry])
    if not isinstance(forms, list):
        raise RegistryError(f"templates.{key}.forms must be an array of tables")
    category = str(entry.get("category", ""))
    if_empty = {str(k): str(v) for k, v in _table(entry, "if_empty", f"templates.{key}.").items()}
    samples = _samples(_table(entry, "samples", f"templates.{key}."))
    result = []
    for slots, form in enumerate(forms, start=1):
        where = f"templates.{key}" + (f".forms[{slots - 1}]" if "forms" in entry else "")
        if not isinstance(form, dict):
            raise RegistryError(f"{where} must be a table")
        mine = form.get(provider)
        if mine is None:
            continue  # this provider has fewer forms; `check` says if it lacks the first
        if not isinstance(mine, dict):
            raise RegistryError(f"{where}.{provider} must be a table")
        source = mine.get("text", form.get("text"))
        if not isinstance(source, str) or not source:
            raise RegistryError(f"{where} has no text")
        variables = tuple(m.group(1) for m in _VARIABLE.finditer(source))
        result.append(
            ProviderTemplate(
                provider=provider,
                key=key,
                category=category,
                text=_in_syntax(provider, source, variables),
                source=source,
                variables=variables,
                code=str(mine.get("code", "")),
                sign_name=str(mine.get("sign_name") or default_sign),
                approved=bool(mine.get("approved", False)),
                slots=slots,
                split=str(split) if split is not None else None,
                if_empty=if_empty,
                samples=samples,
            )
        )
    return tuple(result)


def _in_syntax(provider: str, source: str, variables: tuple[str, ...]) -> str:
    """The text as the provider takes it: Tencent numbers the variables in order of appearance."""
    if provider != TENCENT:
        return source
    position = {name: str(i) for i, name in enumerate(dict.fromkeys(variables), start=1)}
    return _VARIABLE.sub(lambda m: "{" + position[m.group(1)] + "}", source)


# --- One row's parameters ------------------------------------------------------------------


def template_for(provider: str, key: str, slots: int = 1) -> ProviderTemplate:
    """The provider's template for a key (the form with `slots` slots for a split key)."""
    for form in registry().forms(provider, key):
        if form.slots == slots:
            return form
    raise TemplateError(provider, key, "unknown_template", f"no template with {slots} slot(s)")


def provider_params(
    rules: TemplateRules, key: str, params: Mapping[str, Any]
) -> dict[str, str] | list[str]:
    """The parameters the provider is sent for a row (by name for Alibaba, by position for
    Tencent); TemplateError if a value cannot be sent. `prepare` also names the template."""
    return prepare(rules, key, params).params


def _signature(rules: TemplateRules, template: ProviderTemplate) -> str:
    """The template's own signature where its entry names one, else the account's."""
    default = registry().sign_names.get(template.provider, "")
    if template.sign_name and template.sign_name != default:
        return template.sign_name
    return rules.sign_name or template.sign_name


def prepare(
    rules: TemplateRules,
    key: str,
    params: Mapping[str, Any],
    *,
    source: Registry | None = None,
) -> PreparedSms:
    """Check a row's parameters against the provider's limits and choose the template.

    A value longer than one variable holds is cut at its own punctuation or spaces over the
    fewest slots of the entry's split parameter; anything else that does not fit (a value too
    long, an empty one, a code that is not digits, a message over 500 characters) raises
    TemplateError naming the template, the parameter and the limit. Nothing is truncated.
    """
    provider = rules.provider
    forms = (source or registry()).forms(provider, key)
    if not forms:
        raise TemplateError(provider, key, "unknown_template", "not in the registry")
    first = forms[0]
    values: dict[str, str] = {}
    pieces: list[str] | None = None
    for name in _our_names(first):
        value = _value(first, params, name)
        _check_content(first, name, value)
        if name == first.split:
            pieces = _split(rules, first, name, value, len(forms))
        else:
            _check_value(rules, first, name, value)
            values[name] = value
    template = forms[len(pieces) - 1] if pieces else first
    if pieces:
        for slot, piece in zip(_slot_names(template), pieces, strict=True):
            values[slot] = piece
    ordered = {name: values[name] for name in template.variables}
    prepared = PreparedSms(template, ordered, _signature(rules, template))
    length = prepared.segments.characters
    if length > MAX_MESSAGE:
        raise TemplateError(
            provider,
            key,
            "message_too_long",
            f"{length} characters with the signature, over {MAX_MESSAGE}",
            limit=MAX_MESSAGE,
        )
    return prepared


def value_limits(rules: TemplateRules, template: ProviderTemplate) -> tuple[int, int | None]:
    """The fewest and most characters one variable of this template holds (None: no most)."""
    if template.category == VERIFICATION:
        return CODE_LENGTH[rules.provider]
    return 1, rules.max_value


def _our_names(template: ProviderTemplate) -> list[str]:
    """Our parameter names the template uses, the split one once, in order of appearance."""
    return list(dict.fromkeys(template.parameter(v) for v in template.variables))


def _is_slot(split: str, variable: str) -> bool:
    return variable == split or (variable.startswith(split) and variable[len(split) :].isdigit())


def _slot_names(template: ProviderTemplate) -> list[str]:
    return [v for v in template.variables if template.slot_index(v) is not None]


def _value(template: ProviderTemplate, params: Mapping[str, Any], name: str) -> str:
    if name not in params or params[name] is None:
        if name in template.if_empty:
            return template.if_empty[name]
        raise TemplateError(template.provider, template.key, "missing", "no value", param=name)
    value = str(params[name]).strip()
    if not value:
        value = template.if_empty.get(name, "")
    if not value:
        raise TemplateError(
            template.provider,
            template.key,
            "empty",
            "a variable may not be empty",
            param=name,
            limit=1,
        )
    return value


def _check_content(template: ProviderTemplate, name: str, value: str) -> None:
    """What no variable may carry: a link (Tencent: "变量不允许透传链接"; Alibaba takes links
    only as fixed text) or 【】, which would read as a second signature."""
    if _LINK.search(value):
        raise TemplateError(
            template.provider, template.key, "link", "a link may not be a variable", param=name
        )
    if "【" in value or "】" in value:
        raise TemplateError(
            template.provider,
            template.key,
            "brackets",
            "【】 are kept for the signature",
            param=name,
        )


def _check_value(rules: TemplateRules, template: ProviderTemplate, name: str, value: str) -> None:
    low, high = value_limits(rules, template)
    provider, key = template.provider, template.key
    if template.category == VERIFICATION:
        allowed = value.isascii() and (value.isdigit() or (provider == ALIYUN and value.isalnum()))
        if not allowed:
            raise TemplateError(
                provider, key, "not_digits", f"a code must be digits: {value!r}", param=name
            )
        if len(value) < low:
            raise TemplateError(
                provider,
                key,
                "too_short",
                f"{len(value)} characters, under {low}",
                param=name,
                limit=low,
            )
    if high is not None and len(value) > high:
        raise TemplateError(
            provider,
            key,
            "too_long",
            f"{len(value)} characters, over {high} a variable",
            param=name,
            limit=high,
        )


def _split(
    rules: TemplateRules, template: ProviderTemplate, name: str, value: str, forms: int
) -> list[str]:
    """Cut a value over the fewest slots that hold it, at its own breaks; TemplateError if
    a stretch between two breaks is over the limit or the value needs more slots than the
    entry has."""
    high = rules.max_value
    if high is None or len(value) <= high:
        return [value]
    pieces = split_text(value, high)
    provider, key = template.provider, template.key
    if pieces is None:
        raise TemplateError(
            provider,
            key,
            "no_break",
            f"a stretch with no punctuation or space is over {high} characters",
            param=name,
            limit=high,
        )
    if len(pieces) > forms:
        raise TemplateError(
            provider,
            key,
            "too_long",
            f"{len(value)} characters need {len(pieces)} slots of {high}; "
            f"the template has {forms} at most",
            param=name,
            limit=high * forms,
        )
    return pieces


def split_text(text: str, limit: int) -> list[str] | None:
    """Cut a text into the fewest pieces of at most `limit` characters, only at its breaks
    (punctuation, spaces), leaving out the break at each cut; None if that cannot be done.

    Greedy: each piece takes as many whole stretches between breaks as fit, which gives the
    fewest pieces. The text's final punctuation stays when it fits.
    """
    pieces: list[str] = []
    current = ""  # the piece being built, ending on words
    gap = ""  # the break after it
    for words, after in _stretches(text):
        if not words:
            gap += after
            continue
        candidate = current + gap + words if current else words
        if len(candidate) <= limit:
            current = candidate
        elif not current or len(words) > limit:
            return None  # a stretch alone is over the limit
        else:
            pieces.append(current)
            current = words
        gap = after
    if not current:
        return None  # nothing but breaks
    ending = (current + gap).rstrip()
    pieces.append(ending if len(ending) <= limit else current)
    return pieces


def _stretches(text: str) -> list[tuple[str, str]]:
    """The text as (words, the break after them) pairs."""
    found = []
    position = 0
    for match in _BREAK.finditer(text):
        found.append((text[position : match.start()], match.group()))
        position = match.end()
    found.append((text[position:], ""))
    return found


# --- The registry's own rules (`flask templates check`) ------------------------------------


def problems(source: Registry | None = None) -> list[str]:
    """Every way the registry breaks the providers' rules or ours, one line each; empty if none."""
    reg = source or registry()
    found = [
        f"{provider} voice {key}: no entry (its calls play it)"
        for provider, keys in VOICE_USES.items()
        for key in keys
        if (provider, key) not in reg.voice
    ]
    missing = [key for key in TEMPLATES if key not in reg.keys]
    found += [f"{key}: no entry (every key of models/templates.py needs one)" for key in missing]
    found += [
        f"{key}: not a key of models/templates.py" for key in reg.keys if key not in TEMPLATES
    ]
    for provider in PROVIDERS:
        sign = reg.sign_names[provider]
        if not sign:
            found.append(f"{provider}: no sign_name")
        for key in reg.keys:
            forms = reg.forms(provider, key)
            if not forms:
                found.append(f"{provider} {key}: no template")
                continue
            found += _form_problems(reg, key, forms)
            for form in forms:
                found += [f"{provider} {form.name}: {p}" for p in _template_problems(reg, form)]
    for (provider, key), template in reg.voice.items():
        found += [f"{provider} voice {key}: {p}" for p in _voice_problems(template)]
    return found


def _voice_problems(template: ProviderTemplate) -> list[str]:
    """A spoken template: words only (a call fills no parameters), no refused word, at most
    VOICE_MAX characters."""
    found = []
    if template.variables:
        found.append("a spoken template has no variables: calls fill none")
    found += [
        f"contains {word!r}, which the providers refuse"
        for word in FORBIDDEN_WORDS
        if word in template.source
    ]
    if template.approved and not template.code:
        found.append("approved but no code: record the code the provider gave")
    if len(template.source) > VOICE_MAX:
        found.append(f"{len(template.source)} characters: a voice template holds {VOICE_MAX}")
    return found


def _form_problems(reg: Registry, key: str, forms: tuple[ProviderTemplate, ...]) -> list[str]:
    """A split key: form n has the split parameter in n consecutive slots, and it is ours."""
    first = forms[0]
    if first.split is None:
        return []
    where = f"{first.provider} {key}"
    if key in TEMPLATES and first.split not in placeholders(key):
        return [f"{where}: splits `{first.split}`, which is not one of its parameters"]
    found = []
    if [form.slots for form in forms] != list(range(1, len(forms) + 1)):
        found.append(f"{where}: forms must run from 1 slot up without a gap")
    for form in forms:
        expected = (
            [first.split]
            if form.slots == 1
            else [f"{first.split}{i}" for i in range(1, form.slots + 1)]
        )
        if _slot_names(form) != expected:
            found.append(
                f"{where}: form {form.slots} must fill " + ", ".join(f"${{{n}}}" for n in expected)
            )
    if first.split not in reg.samples and first.split not in first.samples:
        found.append(f"{where}: no sample value for `{first.split}`")
    return found


def _template_problems(reg: Registry, template: ProviderTemplate) -> list[str]:
    found = []
    key, source = template.key, template.source
    if template.category not in CATEGORIES:
        found.append(f"category must be one of {', '.join(CATEGORIES)}: {template.category!r}")
    fixed = _VARIABLE.sub("", source)
    if not re.search(r"\w", fixed):
        found.append("made only of variables: add fixed words saying what the message is")
    between = _VARIABLE.split(source)[2:-1:2]  # the text between consecutive variables
    for (first, second), gap in zip(
        zip(template.variables, template.variables[1:], strict=False), between, strict=False
    ):
        if not re.search(r"\w", gap):
            found.append(
                f"variables ${{{first}}} and ${{{second}}} are adjacent: put words between"
            )
    repeated = {v for v in template.variables if template.variables.count(v) > 1}
    found += [f"variable ${{{v}}} used twice" for v in sorted(repeated)]
    ours = placeholders(key) if key in TEMPLATES else set()
    for variable in dict.fromkeys(template.variables):
        if template.slot_index(variable) is None and variable not in ours:
            found.append(f"${{{variable}}} is not a parameter of the template")
    for word in FORBIDDEN_WORDS:
        if word in fixed or word in template.sign_name:
            found.append(f"contains {word!r}, which the providers refuse")
    if any(bracket in source for bracket in "【】") or source[:1] == "[" or source[-1:] == "]":
        found.append("brackets 【】 or [] are kept for the signature")
    if template.category == MARKETING and not source.rstrip().endswith(MARKETING_SUFFIX):
        found.append(f"a marketing template must end with {MARKETING_SUFFIX}")
    if template.category != MARKETING and MARKETING_SUFFIX in source:
        found.append(f"only a marketing template carries {MARKETING_SUFFIX}")
    if template.category == VERIFICATION:
        if len(template.variables) != 1:
            found.append("a verification template has exactly one variable, the code")
        if not any(word in source for word in VERIFICATION_WORDS):
            found.append("a verification template must say 验证码 (or 注册码, 校验码, 动态码)")
    if template.approved and not template.code:
        found.append("approved but no code: record the code the provider gave")
    found += _sample_problems(reg, template)
    return found


def _sample_problems(reg: Registry, template: ProviderTemplate) -> list[str]:
    """Filled with the example values: each value passes, and the message fits (one message
    unless the key is split; 500 characters in any case)."""
    values = sample_values(reg, template)
    lacking = [v for v in template.variables if v not in values]
    if lacking:
        return ["no sample value for " + ", ".join(f"`{v}`" for v in lacking)]
    rules = TemplateRules.for_provider(template.provider)
    found = []
    for variable in template.variables:
        try:
            _check_value(rules, template, template.parameter(variable), values[variable])
        except TemplateError as exc:
            found.append(f"sample {variable}: {exc}")
    length = count_template_segments(template.sign_name, template.fill(values)).characters
    if length > MAX_MESSAGE:
        found.append(f"{length} characters with the signature, over {MAX_MESSAGE}")
    elif template.split is None and length > ONE_MESSAGE:
        found.append(f"{length} characters with the signature: one message is {ONE_MESSAGE}")
    return found


def sample_values(reg: Registry, template: ProviderTemplate) -> dict[str, str]:
    """The example values for each variable (a split parameter's slots take its values in
    turn); variables with no example are left out."""
    values = {}
    for variable in template.variables:
        name = template.parameter(variable)
        examples = template.samples.get(name) or reg.samples.get(name, ())
        index = template.slot_index(variable) or 0
        if index < len(examples):
            values[variable] = examples[index]
    return values


def voice_template(provider: str, key: str, source: Registry | None = None) -> ProviderTemplate:
    """The provider's spoken template for a key; TemplateError if the registry has none."""
    template = (source or registry()).voice.get((provider, key))
    if template is None:
        raise TemplateError(provider, key, "unknown_template", "no voice template")
    return template


def pending(provider: str, source: Registry | None = None) -> list[ProviderTemplate]:
    """The provider's templates not yet approved, in the registry's order: the SMS ones, then
    the spoken ones."""
    reg = source or registry()
    voice = [reg.voice[(provider, key)] for key in reg.voice_keys if (provider, key) in reg.voice]
    return [form for form in [*reg.all(provider), *voice] if not form.approved]
