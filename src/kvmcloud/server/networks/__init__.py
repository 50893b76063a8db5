"""Guest networks as a model: network offerings, physical networks as listed, guest networks."""
