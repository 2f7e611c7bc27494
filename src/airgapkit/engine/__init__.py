"""The Docker Engine through the docker SDK: images, containers and their lifecycle."""
