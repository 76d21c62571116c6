"""Studies: grids of DVC experiments declared in studies/studies.yaml, run and reported."""
