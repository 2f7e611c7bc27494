"""The Docker Engine through the docker SDK: pull, save, load, build, run, prune. (being written)"""
