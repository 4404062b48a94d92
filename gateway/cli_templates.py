"""`flask templates`: the mainland providers' template registry (models/sms_templates.toml)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from models.segments import count_template_segments, signed_text
from models.sms_templates import (
    PROVIDERS,
    TENCENT,
    VOICE,
    ProviderTemplate,
    Registry,
    RegistryError,
    load_registry,
    pending,
    problems,
    registry,
    sample_values,
)

templates_cli = AppGroup("templates", help="SMS templates for Alibaba Cloud and Tencent Cloud.")

_FILE = click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A registry file to read instead of the one shipped (models/sms_templates.toml).",
)


@templates_cli.command("pending")
@click.option("--provider", required=True, type=click.Choice(PROVIDERS))
@_FILE
def pending_command(provider: str, path: Path | None) -> None:
    """List the templates still to be approved, with the text to paste into the console.

    Each shows its category, its text in the provider's syntax, a sample with example values
    and its length counted with the signature (70 characters one message, then 67 a part).
    """
    reg = _read(path)
    waiting = pending(provider, reg)
    if not waiting:
        click.echo(f"{provider}: every template is approved")
    else:
        click.echo(f"{provider}: {len(waiting)} templates to approve")
    for template in waiting:
        click.echo("")
        for line in describe(reg, template):
            click.echo(line)


def describe(reg: Registry, template: ProviderTemplate) -> list[str]:
    """A template as `pending` shows it, one line a field."""
    state = f"code {template.code}, awaiting approval" if template.code else "not submitted"
    values = sample_values(reg, template)
    sample = template.fill(values)
    if template.category == VOICE:
        return [
            f"{template.name}  {VOICE}  ({state})",
            f"  text:      {template.text}",
            f"  length:    {len(sample)} characters spoken",
        ]
    info = count_template_segments(template.sign_name, sample)
    messages = "1 message" if info.segments == 1 else f"{info.segments} messages"
    lines = [
        f"{template.name}  {template.category}  ({state})",
        f"  signature: {template.sign_name}",
        f"  text:      {template.text}",
    ]
    if template.provider == TENCENT and template.variables:
        order = ", ".join(f"{{{i}}} {name}" for i, name in enumerate(template.variables, 1))
        lines.append(f"  params:    {order}")
    lines += [
        f"  sample:    {signed_text(template.sign_name, sample)}",
        f"  length:    {info.characters} characters with the signature, {messages}",
    ]
    return lines


@templates_cli.command("check")
@_FILE
def check_command(path: Path | None) -> None:
    """Check the registry against the providers' rules; exit 1 naming each problem.

    Every template key has a template for each provider; no variables side by side and none
    made of variables only; no refused words; marketing ends with 拒收请回复R and nothing else
    does; verification has one code; the examples fit each variable and, unless the key is
    split over slots, one message with the signature.
    """
    reg = _read(path)
    found = problems(reg)
    if found:
        for line in found:
            click.echo(line)
        click.echo(f"{len(found)} problem(s) in the template registry", err=True)
        raise SystemExit(1)
    count = sum(len(reg.all(provider)) for provider in PROVIDERS)
    click.echo(f"template registry ok: {len(reg.keys)} keys, {count} provider templates")


def _read(path: Path | None) -> Registry:
    try:
        return registry() if path is None else load_registry(path)
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from exc
