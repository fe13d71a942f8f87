"""Hub side: load -> splink model -> clusters -> events -> indicators -> outputs."""
