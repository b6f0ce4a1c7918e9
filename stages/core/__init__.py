"""What both layers share: Arrow helpers, shard files, the one atomic write, the ledger schema, stats and the
registry. It imports nothing else of the project, so stages and the orchestration (`pipeline`) can both use it."""
