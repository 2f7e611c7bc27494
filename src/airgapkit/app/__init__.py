"""The app side: package.json and npm pack, the build context, env files."""
