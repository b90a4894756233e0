"""Where the signed fleet policy is fetched from: a file, an https URL or an S3 object.

Every source has one method, ``fetch() -> bytes``, and raises only PolicyUnreachable
(could not read) or PolicyMalformed (more than ``MAX_POLICY_BYTES``). Sources do not
judge the bytes: :func:`consent.policy.verify_policy` does. Third-party errors (urllib,
botocore) are translated here, at the boundary.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from consent.errors import PolicyMalformed, PolicySourceInvalid, PolicyUnreachable
from consent.policy import MAX_POLICY_BYTES

if TYPE_CHECKING:
    import ssl
    import urllib.request
    from http.client import HTTPMessage

# ssl, urllib.request and http.client are imported only when an https source is built:
# loading ssl maps OpenSSL's libraries into the daemon's memory (docs/PERFORMANCE.md,
# Figures behind choices in the code) and most agents read their policy from a file or
# have none.

DEFAULT_TIMEOUT = 10.0


class PolicySource(Protocol):
    """One place a signed policy can be read from."""

    location: str

    def fetch(self) -> bytes:
        """The envelope's bytes; raises PolicyUnreachable or PolicyMalformed (too big)."""
        ...


def _capped(data: bytes, location: str) -> bytes:
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyMalformed(
            f"{location}: the fleet policy is larger than {MAX_POLICY_BYTES} bytes"
        )
    return data


class FilePolicySource:
    """A policy in a local file (a shared drive, or tests)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)

    def fetch(self) -> bytes:
        """Read the file."""
        try:
            with self.path.open("rb") as handle:
                return _capped(handle.read(MAX_POLICY_BYTES + 1), self.location)
        except OSError as exc:
            raise PolicyUnreachable(
                f"{self.location}: cannot read the fleet policy: {exc.strerror or exc}"
            ) from None


@functools.cache
def _https_only_redirects() -> type[urllib.request.HTTPRedirectHandler]:
    """The redirect handler class (built on first use, with urllib.request)."""
    import urllib.request

    class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
        """Follow a redirect only to another https URL: never downgrade to plain http."""

        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: IO[bytes],
            code: int,
            msg: str,
            headers: HTTPMessage,
            newurl: str,
        ) -> urllib.request.Request | None:
            if urlsplit(newurl).scheme != "https":
                raise PolicyUnreachable(f"{req.full_url}: redirected to a non-https URL; refused")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return _HttpsOnlyRedirects


def check_https_url(url: str) -> str:
    """Return ``url`` if it is an https URL with a host; raise PolicySourceInvalid if not."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise PolicySourceInvalid(f"{url!r}: the policy URL must start with https://")
    if not parts.hostname:
        raise PolicySourceInvalid(f"{url!r}: the policy URL has no host")
    if parts.username or parts.password:
        raise PolicySourceInvalid(f"{url!r}: put no credentials in the policy URL")
    return url


class HttpsPolicySource:
    """A policy served over https (certificate checked; redirects stay on https)."""

    def __init__(
        self, url: str, timeout: float = DEFAULT_TIMEOUT, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        import ssl
        import urllib.request

        self.location = check_https_url(url)
        self.timeout = timeout
        context = ssl_context or ssl.create_default_context()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), _https_only_redirects()()
        )

    def fetch(self) -> bytes:
        """GET the URL."""
        import urllib.error
        import urllib.request
        from http.client import HTTPException

        # S310: the location passed check_https_url, and redirects stay on https.
        request = urllib.request.Request(  # noqa: S310
            self.location, headers={"Accept": "application/json", "User-Agent": "capture-agent"}
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                data: bytes = response.read(MAX_POLICY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise PolicyUnreachable(f"{self.location}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise PolicyUnreachable(
                f"{self.location}: cannot fetch the fleet policy: {exc.reason}"
            ) from None
        except (OSError, HTTPException, ValueError) as exc:
            raise PolicyUnreachable(
                f"{self.location}: cannot fetch the fleet policy: {type(exc).__name__}: {exc}"
            ) from None
        return _capped(data, self.location)


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) from ``s3://bucket/key``; raise PolicySourceInvalid otherwise."""
    parts = urlsplit(url)
    key = parts.path.lstrip("/")
    if parts.scheme != "s3" or not parts.netloc or not key:
        raise PolicySourceInvalid(f"{url!r}: an S3 policy location is s3://bucket/key")
    return parts.netloc, key


class S3PolicySource:
    """A policy object in S3-compatible storage (boto3, imported only when used).

    ``client`` may be given (an object with boto3's ``get_object``); otherwise one is
    built from the default credential chain with ``endpoint_url`` (MinIO, SeaweedFS...).
    """

    def __init__(
        self,
        url: str,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        client: Any = None,
    ) -> None:
        self.location = url
        self.bucket, self.key = parse_s3_url(url)
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self._client = client

    def _get_client(self) -> Any:
        if self._client is None:
            try:
                boto3 = importlib.import_module("boto3")
            except ImportError:
                raise PolicyUnreachable(
                    f"{self.location}: boto3 is not installed; install "
                    f"it to read the policy from S3"
                ) from None
            self._client = boto3.client(
                "s3", endpoint_url=self.endpoint_url, region_name=self.region_name
            )
        return self._client

    def fetch(self) -> bytes:
        """GET the object."""
        try:
            response = self._get_client().get_object(Bucket=self.bucket, Key=self.key)
            data = response["Body"].read(MAX_POLICY_BYTES + 1)
        except PolicyUnreachable:
            raise
        except Exception as exc:  # botocore's error tree, translated at the boundary
            raise PolicyUnreachable(
                f"{self.location}: cannot fetch the fleet policy: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(data, bytes):
            raise PolicyUnreachable(f"{self.location}: the object store returned no bytes")
        return _capped(data, self.location)


def policy_source(
    location: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    s3_endpoint_url: str | None = None,
    s3_region_name: str | None = None,
) -> PolicySource:
    """The source for a configured location: ``https://...``, ``s3://...`` or a path."""
    scheme = urlsplit(location).scheme.lower()
    if scheme == "https":
        return HttpsPolicySource(location, timeout=timeout)
    if scheme == "s3":
        return S3PolicySource(location, endpoint_url=s3_endpoint_url, region_name=s3_region_name)
    if scheme == "file":
        return FilePolicySource(Path(urlsplit(location).path))
    if scheme and len(scheme) > 1:  # a one-letter "scheme" is a Windows drive
        raise PolicySourceInvalid(
            f"{location!r}: a policy location is a file path, an https:// URL or an s3://bucket/key"
        )
    if not location.strip():
        raise PolicySourceInvalid("the policy location is empty")
    return FilePolicySource(Path(location))
