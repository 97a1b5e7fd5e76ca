"""Stack settings: the one place stack configuration is read, validated into frozen, typed objects.

`load()` reads the current stack's `mlops` namespace once; `parse(stack, project, raw, secrets)` validates
plain values (what tests call). A bad stack fails `pulumi preview` with one `SettingsError` that names
the stack and, for every problem at once, the key (`mlops:serving.replicas`) and what is allowed.
Every other module receives these objects, never `pulumi.Config`.

Keys (all optional unless marked; defaults are the `local` stack's embedded defaults):

    mlops:target            docker | kubernetes (required)
    mlops:production        bool
    mlops:generateSecrets   bool: create missing registry/postgres secrets as generated values kept in state
    mlops:registry          {port, username}                                   infra.settings.sections
    mlops:tracking          {port, backend: sqlite | postgres, cpus, memoryMb, workers, readyTimeoutSeconds,
                             publicUrl, auth}
    mlops:artifacts         {volume}
    mlops:training          {cpus, memoryMb, where}
    mlops:serving           {modelUri, requireModel, replicas, port, cpus, memoryMb, workers,
                             predictionLog: {dir, format, sample}, extraColumns, readyTimeoutSeconds}
    mlops:images            {base}
    mlops:kubernetes        the kubernetes target's section                    infra.settings.kubernetes
    mlops:promotion         read by ml (promotion policy), accepted here
    mlops:monitoring        {schedule: a 5-field cron, UTC; absent: no scheduled monitoring} here; the
                            thresholds and retrain policy are ml's, handed on unparsed  infra.settings.sections
    secrets                 registryPassword, postgresPassword, artifactsAccessKeyId,
                            artifactsSecretAccessKey, trackingDatabaseUrl,
                            trackingPassword                                   infra.settings.secrets
"""

from infra.settings.config import load
from infra.settings.errors import Problem, SettingsError
from infra.settings.fields import Limits
from infra.settings.kubernetes import KubernetesSettings
from infra.settings.secrets import SECRET_KEYS, Secrets
from infra.settings.sections import (
    ArtifactSettings,
    ImageSettings,
    MonitoringSettings,
    PredictionLogSettings,
    RegistrySettings,
    ServingSettings,
    TrackingSettings,
    TrainingSettings,
)
from infra.settings.stack import CONFIG_KEYS, Settings, parse

__all__ = [
    "CONFIG_KEYS",
    "SECRET_KEYS",
    "ArtifactSettings",
    "ImageSettings",
    "KubernetesSettings",
    "Limits",
    "MonitoringSettings",
    "PredictionLogSettings",
    "Problem",
    "RegistrySettings",
    "Secrets",
    "ServingSettings",
    "Settings",
    "SettingsError",
    "TrackingSettings",
    "TrainingSettings",
    "load",
    "parse",
]
