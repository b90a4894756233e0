"""Terminal password prompts, guessed from the command line typed before them.

The daemon never sees terminal output, so it cannot see "Password:" appear. Instead,
when a typed line is a command that usually asks for a password (``sudo``, ``ssh``,
``passwd``, ``mysql -p`` ...), the next lines typed in the same window are treated as
secrets whole. ``prompt_lines(line)`` says how many: ``passwd`` asks for the old
password and the new one twice, ``git push`` over HTTPS for a user name and a password.
The guess errs towards redacting: when no prompt appears (cached sudo credentials, an
SSH key), the next command line is redacted too.
"""

from __future__ import annotations

import re
import shlex

# Commands that prompt, and how many lines they read from the keyboard.
_PROMPTS: dict[str, int] = {
    "su": 1,
    "doas": 1,
    "pkexec": 1,
    "login": 2,
    "ssh": 1,
    "scp": 1,
    "sftp": 1,
    "sshfs": 1,
    "mosh": 1,
    "ssh-copy-id": 1,
    "ssh-add": 1,
    "ssh-keygen": 2,
    "telnet": 2,
    "ftp": 2,
    "lftp": 1,
    "smbclient": 1,
    "passwd": 3,
    "chsh": 1,
    "chfn": 1,
    "adduser": 2,
    "htpasswd": 2,
    "vncpasswd": 2,
    "psql": 1,
    "pg_dump": 1,
    "createdb": 1,
    "createuser": 2,
    "gpg": 2,
    "gpg2": 2,
    "kinit": 1,
    "openssl": 2,
    "cryptsetup": 1,
    "veracrypt": 1,
    "keepassxc-cli": 1,
    "pass": 2,
    "vault": 1,
    "bw": 1,
    "op": 1,
    "ansible-vault": 2,
    "encfs": 2,
    "gocryptfs": 2,
    "unzip": 1,
}
# Commands that prompt only with certain options or subcommands.
_DATABASE = frozenset({"mysql", "mariadb", "mysqldump", "mysqladmin", "mongo", "mongosh"})
_LOGIN_SUBCOMMAND = frozenset(
    {"docker", "podman", "helm", "buildah", "skopeo", "npm", "yarn", "heroku", "az", "cf", "oc"}
)
_GIT_REMOTE = frozenset({"push", "pull", "fetch", "clone"})
_ELEVATE = frozenset({"sudo", "doas"})
_WRAPPERS = frozenset({"time", "nice", "nohup", "env", "command", "exec", "stdbuf", "ionice"})
_SHLEX_SPECIAL = re.compile(r"['\"\\]")  # what shlex.split treats other than as a word
_SHLEX_SPACE = re.compile(r"[ \t\r\n]+")  # shlex's whitespace
_PROMPT_STRIP = re.compile(r"^\s*(?:\$|#|%|>|❯)\s+")


def prompt_lines(line: str) -> int:
    """How many of the next typed lines are probably answers to a password prompt."""
    words = _split(line)
    count = 0
    elevated = False
    while words:
        head = words[0].rsplit("/", 1)[-1]
        if "=" in head and not head.startswith("-"):
            words = words[1:]  # VAR=value prefix
            continue
        if head in _WRAPPERS:
            words = words[1:]
            continue
        if head in _ELEVATE:
            if "-n" not in words[1:2] and "--non-interactive" not in words:
                count += 1
            elevated = True
            words = _after_options(words[1:], takes_value={"-u", "-g", "-C", "-h", "-p"})
            continue
        break
    if not words:
        return count
    head = words[0].rsplit("/", 1)[-1]
    args = words[1:]
    if head == "su" and elevated:
        return count
    if head in _PROMPTS:
        return count + _PROMPTS[head]
    if head in _DATABASE:
        asks = any(a in ("-p", "--password", "-W") for a in args)
        return count + (1 if asks else 0)
    if head in _LOGIN_SUBCOMMAND and any(a in ("login", "signin") for a in args):
        inline = any(a.startswith(("-p", "--password")) for a in args)
        return count + (0 if inline else 2)
    if head == "git" and any(a in _GIT_REMOTE for a in args[:3]):
        return count + 2
    if head.startswith("ansible") and any(
        a in ("-k", "-K", "--ask-pass", "--ask-become-pass", "--ask-vault-pass") for a in args
    ):
        return count + 2
    if head in ("zip", "7z", "7za") and any(a in ("-e", "--encrypt", "-p") for a in args):
        return count + 2
    if head == "mount" and any("cifs" in a or "smb" in a for a in args):
        return count + 1
    return count


def ends_secret_block(line: str) -> bool:
    """Whether ``line`` closes a PEM private key block being typed."""
    return "-----END" in line and "PRIVATE KEY" in line


def starts_secret_block(line: str) -> bool:
    """Whether ``line`` opens a PEM private key block (its body lines follow)."""
    return "-----BEGIN" in line and "PRIVATE KEY" in line and not ends_secret_block(line)


def _split(line: str) -> list[str]:
    line = _PROMPT_STRIP.sub("", line)
    # Only the first command of a pipeline or list matters for what reads the terminal.
    line = re.split(r"\s*(?:&&|\|\||;|\|)\s*", line, maxsplit=1)[0]
    if not _SHLEX_SPECIAL.search(line):
        # No quote and no backslash: shlex would split on its whitespace only (30x faster).
        return _SHLEX_SPACE.split(line.strip(" \t\r\n")) if line.strip(" \t\r\n") else []
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def _after_options(words: list[str], takes_value: set[str]) -> list[str]:
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in takes_value else 1
    return words[i:]
