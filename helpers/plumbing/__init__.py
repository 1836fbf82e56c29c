"""Plumbing: what the notebooks need to run anywhere, and what a student never has to read.

Input checks with messages that say what to do (``validate``), downloads with timeouts and
checksums (``download``, ``prefetch``), CIFAR-10 as class folders of image files
(``imagefolder``), labelled synthetic stand-ins for offline runs (``standins``), files that
record what they were made from (``artifacts``), resumable training state (``runstate``) and the
EfficientNet-Lite definition behind the offline pretrained network (``effnet_lite``).
The lesson modules one level up import from here; nothing here imports a lesson module.
"""
