"""The template book the mainland providers send from: the registry in models/sms_templates.

A row keeps its template key and our parameters; at send time the provider asks the book for
the approved template and the parameters in its own shape. The registry's rules chose the
template (and cut a long notice over its slots) when the row was queued; they are applied
again here, so a row queued before a template changed is checked against what is sent now.

Templates the provider has not approved have no code yet. Against the sandbox they are sent
under their own name (`broadcast.2`) so a township can try the whole system before approval;
against the provider itself such a row fails, naming the template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.providers.base import (
    TEMPLATE_BOOK_KEY,
    ResolvedTemplate,
    TemplateBook,
    TemplateUnavailable,
)
from models.sms_templates import TemplateError, TemplateRules, prepare, registry, voice_template


class RegistryBook:
    """A TemplateBook over the registry, with one provider's limits."""

    def __init__(self, rules: TemplateRules, *, sandbox: bool = False) -> None:
        self.rules = rules
        self.sandbox = sandbox

    def resolve(self, provider: str, key: str, params: Mapping[str, Any]) -> ResolvedTemplate:
        """The approved template for the row, with its parameters; TemplateUnavailable with
        the registry's reason (a value that does not fit, a template not approved)."""
        if provider != self.rules.provider:
            raise TemplateUnavailable(f"this book is {self.rules.provider}'s, not {provider}'s")
        try:
            prepared = prepare(self.rules, key, params)
        except TemplateError as exc:
            raise TemplateUnavailable(str(exc), exc.code) from exc
        template = prepared.template
        code = template.code if template.approved else ""
        if not code:
            if not self.sandbox:
                raise TemplateUnavailable(
                    f"the {provider} template {template.name} is not approved yet",
                    f"template:unapproved:{template.name}"[:64],
                )
            code = template.name
        # The registry's own signature only where an entry names one; else the account's.
        own = (
            template.sign_name if template.sign_name != registry().sign_names.get(provider) else ""
        )
        return ResolvedTemplate(code, own or None, prepared.params)


def spoken_template(provider: str, key: str, *, sandbox: bool = False) -> ResolvedTemplate:
    """A spoken template of the registry (`[voice.<key>]`) as the provider takes it: its
    approved code with no parameters; under its name (`voice.<key>`) against the sandbox
    before approval, and TemplateUnavailable against the provider itself."""
    try:
        template = voice_template(provider, key)
    except TemplateError as exc:
        raise TemplateUnavailable(str(exc), exc.code) from exc
    code = template.code if template.approved else ""
    if not code:
        if not sandbox:
            raise TemplateUnavailable(
                f"the {provider} voice template {key} is not approved yet",
                f"template:unapproved:voice.{key}"[:64],
            )
        code = f"voice.{key}"
    return ResolvedTemplate(code, None, [])


def registry_book(provider: str, *, sandbox: bool = False) -> RegistryBook:
    """The registry's book with the provider's documented limits."""
    return RegistryBook(TemplateRules.for_provider(provider), sandbox=sandbox)


def book_for(config: Mapping[str, Any], *, sandbox: bool = False) -> TemplateBook:
    """The book a provider built from the settings uses: a test's, else the registry's with
    the settings' limits (ALIYUN_SMS_PARAM_MAX / TENCENT_SMS_PARAM_MAX)."""
    given = config.get(TEMPLATE_BOOK_KEY)
    if given is not None:
        book: TemplateBook = given
        return book
    rules = TemplateRules.from_config(config)
    if rules is None:
        raise ValueError(f"PROVIDER {config.get('PROVIDER')!r} sends no templates")
    return RegistryBook(rules, sandbox=sandbox)


__all__ = ["RegistryBook", "book_for", "registry_book", "spoken_template"]
