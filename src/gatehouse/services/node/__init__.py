"""Node machinery: what one running Gatehouse process keeps in memory (compiled policies, the
node cache) and the change-feed thread that keeps it fresh."""
