package main

// The codecs compiled into the binary. A new codec is one blank import here.
import (
	_ "github.com/breeze-mesh/breeze/protocol/dubbo"
)
