"""How models are scored and chosen: metrics, calibration, attributions, selection."""
