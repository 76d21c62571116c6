"""The input contract every model here keeps, named once: raw uint8 digits, [n, 28, 28], a
white digit on black as in MNIST, in; the probabilities of the ten digits, float32 [n, 10], out.
Models scale and resize the pixels themselves, so exported models take what users give."""

NUM_CLASSES = 10  # a number reader's outputs: these ten first, then "not one digit"
NOT_A_DIGIT = NUM_CLASSES  # the non-digit detector's eleventh output, after the ten digits
DIGITS = tuple(range(NUM_CLASSES))
TINY = 1e-30  # probabilities are floored here before a log: a float32 softmax can reach 0
SIDE = 28  # pixels a side
INPUT_DTYPE = "uint8"
INPUT_NAME = "digits"  # the Keras input layer's name
