"""The hand-designed candidates, the ensemble, and the TensorFlow runtime they train in."""
