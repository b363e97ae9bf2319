"""``broker init``: a commented broker.yml that passes ``broker validate``, a registry per preset.

Each preset knows its registry's pull host, the token server a login may be sent to
(``trusted_realms``), and what the stored secret holds. The secret reference is a
placeholder (a Secrets Manager name) to replace with yours.
"""

from __future__ import annotations

from typing import NamedTuple


class Preset(NamedTuple):
    """One well-known registry."""

    title: str
    host: str
    trusted_realms: tuple[str, ...]
    login: str  # what the stored {"username", "password"} hold
    repository: str  # an example image for the preflight
    backend: str = ""  # the backend block's lines, when not a Secrets Manager placeholder


PRESETS: dict[str, Preset] = {
    "dockerhub": Preset("Docker Hub: pulls from registry-1.docker.io, tokens from auth.docker.io",
                        "registry-1.docker.io", ("auth.docker.io",),
                        "your Docker ID and a Docker Hub access token (read-only)", "library/python"),
    "ghcr": Preset("GitHub Container Registry: its token server is ghcr.io itself", "ghcr.io", (),
                   "your GitHub user and a classic token with read:packages", "OWNER/IMAGE"),
    "gitlab": Preset("GitLab.com: the registry's token server is on gitlab.com",
                     "registry.gitlab.com", ("gitlab.com",),
                     "a deploy token's username and token (read_registry)", "GROUP/PROJECT"),
    "artifactory": Preset("JFrog Artifactory: replace the host with yours (same host for tokens)",
                          "mycompany.jfrog.io", (), "a user and an identity token, or an access "
                          "token's subject and value", "REPOSITORY/IMAGE"),
    "harbor": Preset("Harbor: replace the host with yours (tokens from the same host)",
                     "harbor.example.com", (), "a robot account's name (robot$...) and secret",
                     "PROJECT/IMAGE"),
    "quay": Preset("Quay.io: its token server is quay.io itself", "quay.io", (),
                   "a robot account's name (ORG+NAME) and token", "ORG/IMAGE"),
    "ecr": Preset("Amazon ECR in another account or region: a 12-hour token minted with the "
                  "function's own role, no stored secret", "123456789012.dkr.ecr.us-east-1"
                  ".amazonaws.com", (), "", "team/trainer",
                  "      type: ecr\n"
                  "      registry_id: \"123456789012\"   # the registry's account\n"
                  "      region: us-east-1\n"
                  "      repositories: [team/trainer]   # what the function may pull: the IAM "
                  "grants exactly these\n"),
    "gar": Preset("Google Artifact Registry: a token minted from the function's own AWS identity "
                  "(workload identity federation), no stored secret", "us-docker.pkg.dev", (), "",
                  "PROJECT/REPOSITORY/IMAGE",
                  "      type: gar\n"
                  "      # the pool's AWS provider, trusting the function's role (BrokerRoleArn)\n"
                  "      audience: //iam.googleapis.com/projects/123456789012/locations/global/"
                  "workloadIdentityPools/aws/providers/broker\n"
                  "      service_account: puller@my-project.iam.gserviceaccount.com   # optional\n"),
    "artifactory-passwordless": Preset(
        "JFrog Artifactory without a password: a token minted from the function's own AWS "
        "identity (Artifactory 7.90.10+; map the role first: broker plan says how)",
        "mycompany.jfrog.io", (), "", "REPOSITORY/IMAGE",
        "      type: artifactory\n"
        "      url: https://mycompany.jfrog.io   # the JFrog platform (tokens come from here)\n"
        "      region: us-east-1                 # the STS region the identity is signed for\n"
        "      expires_in: 3600                  # seconds; refreshed after half of it\n"),
}

HEADER = """\
# broker.yml, written by `broker init`. Check it: broker validate --config broker.yml
# For completion and checks in your editor: broker schema > broker.schema.json
# yaml-language-server: $schema=broker.schema.json
defaults:
  cache_ttl: 300          # seconds a login stays in memory
  stale_if_error: 3600    # seconds an expired login may be served while its store is down
  timeout: 5              # seconds for any single call to a store or registry
registries:               # each name is also the Lambda alias SageMaker invokes
"""

GENERIC = Preset("Your registry: replace the host, and the secret it reads",
                 "registry.example.com", (), "the registry's username and password",
                 "TEAM/IMAGE")


def names() -> list[str]:
    """Every preset, for --preset's choices."""
    return list(PRESETS)


def render(chosen: list[str]) -> str:
    """The whole file: one registry per preset (a generic one when none is chosen)."""
    picked = list(dict.fromkeys(chosen)) or ["registry"]
    return HEADER + "".join(_registry(name, PRESETS.get(name, GENERIC)) for name in picked)


def _registry(name: str, preset: Preset) -> str:
    realms = (f"    trusted_realms: [{', '.join(preset.trusted_realms)}]   # the token server, "
              "on another host\n") if preset.trusted_realms else ""
    return (f"\n  {name}:\n"
            f"    # {preset.title}\n"
            f"    host: {preset.host}\n"
            f"{realms}"
            "    preflight: warn                  # prove the login against the registry (enforce: "
            "refuse a bad one)\n"
            f"    # repository: {preset.repository}   # an image whose pull access the preflight "
            "proves\n"
            "    backend:\n"
            + (preset.backend or "      type: secretsmanager\n"
               f"      secret_id: registry/{name}       # {{\"username\": ..., \"password\": ...}}: "
               f"{preset.login}\n"))
