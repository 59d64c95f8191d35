"""Small helpers that read settings from the environment and fail loudly on bad values.

Every variable is documented in docs/configuration.md; names follow the public contract.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from p3s.exceptions import ConfigurationError

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigurationError(
        f"{name}={raw!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off"
    )


def env_float(name: str, default: float, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    value = env_float(name, default, minimum)
    if value != int(value):
        raise ConfigurationError(f"{name}={value!r} must be a whole number")
    return int(value)


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_secret(name: str, var_dir: Path) -> str:
    """A secret from NAME, or the file named by NAME_FILE, or one generated once into var/."""
    if os.environ.get(name):
        return os.environ[name]
    file_var = os.environ.get(f"{name}_FILE")
    if file_var:
        try:
            return Path(file_var).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"{name}_FILE={file_var!r} cannot be read: {exc}") from None
    path = var_dir / name.lower().replace("p3s_", "")
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return path.read_text(encoding="utf-8").strip()
