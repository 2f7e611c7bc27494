"""The pack step: bundledDependencies, npm install / npm ci, npm pack, and a check of the .tgz. (being written)"""
