"""Where numbers come from (sources) and how they become regular series."""
