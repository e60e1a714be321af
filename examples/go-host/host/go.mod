module example.com/gohost

go 1.19

require (
	example.com/shared v1.0.0
	github.com/plugin-builder/pluginhost v0.0.0
)

replace example.com/shared => ../shared

replace github.com/plugin-builder/pluginhost => ../../../go/pluginhost
