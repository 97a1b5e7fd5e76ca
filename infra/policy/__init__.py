"""CrossGuard guardrails for every stack of the platform (`pulumi preview --policy-pack infra/policy`)."""
