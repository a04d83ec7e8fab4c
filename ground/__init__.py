"""The ground layer: what every other package stands on, importing nothing of ours.

    assets   asset ids and paths: T2L_HOME, the offline base model and encoder, the shipped checkpoint (package data)
    prompt   the one prompt format: training, evaluation and the server tokenise a request identically
"""
