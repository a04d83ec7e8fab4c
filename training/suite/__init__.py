"""The description-necessary task suite (issue #12): see core.py for the idea, build.py for tasks and tiers."""
