"""Pictures and pages that show what a run learned: plots, run reports, leaderboards."""
