module github.com/plugin-builder/pluginhost

go 1.19
