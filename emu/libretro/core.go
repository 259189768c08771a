// Package libretro runs libretro cores (dlopen'd .so files) for couchplay.
//
// A core runs in a child process, the couchplay binary re-executed with
// ChildCommand: a core that crashes (a SIGSEGV in C kills a Go process, no
// recover) or hangs takes only the child down. The host side, Process, is an
// emu.Core the frame loop drives like any other; frames come back through
// memfd shared memory, input, audio and commands through two pipes.
//
// This file is the child's cgo binding to the core. One process holds one core,
// so the binding's state is global.
package libretro

/*
#cgo CFLAGS: -I/usr/include/libretro-common -O2
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "frontend.h"

*/
import "C"

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// retroDeviceGamepad is RETRO_DEVICE_SUBCLASS(RETRO_DEVICE_JOYPAD, 0): the
// device nestopia (and others) need on a port to poll it at all; on
// bsnes-mercury's port 1 it is the multitap.
const retroDeviceGamepad = (0+1)<<C.RETRO_DEVICE_TYPE_SHIFT | C.RETRO_DEVICE_JOYPAD

// portDevice picks the device to plug into a port from the ones the core lists
// (SET_CONTROLLER_INFO): its gamepad (or the gamepad when it lists none), else
// its first analog pad (beetle-psx's DualShock: its plain JOYPAD is the digital
// pad, which ignores the sticks), else the plain joypad.
func portDevice(listed []uint) uint {
	if len(listed) == 0 || slices.Contains(listed, retroDeviceGamepad) {
		return retroDeviceGamepad
	}
	for _, d := range listed {
		if d&C.RETRO_DEVICE_MASK == C.RETRO_DEVICE_ANALOG {
			return d
		}
	}
	return C.RETRO_DEVICE_JOYPAD
}

// binding is the child's view of its one core: what the environment
// callback answers and what it was told.
type binding struct {
	mu sync.Mutex // guards the fields the environment callback writes

	corePath  *C.char
	systemDir *C.char
	saveDir   *C.char

	options     []*coreOption // in the order the core declared them
	optionByKey map[string]*coreOption
	overrides   map[string]string // the host's choices (e.g. nestopia's Four Score)
	optsChanged bool

	avChanged bool
	av        C.struct_retro_system_av_info
	geometry  bool // SET_GEOMETRY seen: only base size changed

	controllers [4][]uint // device ids the core lists per port (SET_CONTROLLER_INFO)
	shutdown    bool      // the core asked to be shut down

	log func(level int, line string)
}

type coreOption struct {
	key     string
	values  []string
	value   string
	cValue  *C.char
	changed bool
}

var core = binding{optionByKey: map[string]*coreOption{}}

// Log levels of the libretro log interface.
const (
	logDebug = 0
	logInfo  = 1
	logWarn  = 2
	logError = 3
)

//export goLog
func goLog(level C.int, line *C.char) {
	if f := core.log; f != nil {
		f(int(level), strings.TrimRight(C.GoString(line), "\r\n"))
	}
}

//export goEnvironment
func goEnvironment(cmd C.unsigned, data unsafe.Pointer) C.bool {
	return C.bool(core.environment(uint(cmd)&^C.RETRO_ENVIRONMENT_EXPERIMENTAL, data))
}

func (b *binding) environment(cmd uint, data unsafe.Pointer) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch cmd {
	case C.RETRO_ENVIRONMENT_GET_CAN_DUPE:
		*(*C.bool)(data) = true // a NULL frame repeats the last one
	case C.RETRO_ENVIRONMENT_GET_OVERSCAN:
		*(*C.bool)(data) = false
	case C.RETRO_ENVIRONMENT_SET_PERFORMANCE_LEVEL, C.RETRO_ENVIRONMENT_SET_INPUT_DESCRIPTORS,
		C.RETRO_ENVIRONMENT_SET_SUPPORT_NO_GAME, C.RETRO_ENVIRONMENT_SET_SUBSYSTEM_INFO,
		C.RETRO_ENVIRONMENT_SET_MEMORY_MAPS, C.RETRO_ENVIRONMENT_SET_SERIALIZATION_QUIRKS:
	case C.RETRO_ENVIRONMENT_GET_INPUT_BITMASKS:
		if data != nil {
			*(*C.bool)(data) = true
		}
	case C.RETRO_ENVIRONMENT_GET_SYSTEM_DIRECTORY, C.RETRO_ENVIRONMENT_GET_CORE_ASSETS_DIRECTORY:
		*(**C.char)(data) = b.systemDir
	case C.RETRO_ENVIRONMENT_GET_SAVE_DIRECTORY:
		*(**C.char)(data) = b.saveDir
	case C.RETRO_ENVIRONMENT_GET_LIBRETRO_PATH:
		*(**C.char)(data) = b.corePath
	case C.RETRO_ENVIRONMENT_SET_PIXEL_FORMAT:
		f := *(*C.enum_retro_pixel_format)(data)
		if f != C.RETRO_PIXEL_FORMAT_0RGB1555 && f != C.RETRO_PIXEL_FORMAT_XRGB8888 && f != C.RETRO_PIXEL_FORMAT_RGB565 {
			return false
		}
		C.cp_pixel_format = C.unsigned(f)
	case C.RETRO_ENVIRONMENT_GET_LOG_INTERFACE:
		cb := (*C.struct_retro_log_callback)(data)
		*(*unsafe.Pointer)(unsafe.Pointer(&cb.log)) = C.cp_log_fn()
	case C.RETRO_ENVIRONMENT_SET_MESSAGE:
		msg := (*C.struct_retro_message)(data)
		if b.log != nil && msg.msg != nil {
			b.log(logInfo, C.GoString(msg.msg))
		}
	case C.RETRO_ENVIRONMENT_SHUTDOWN:
		b.shutdown = true
	case C.RETRO_ENVIRONMENT_SET_VARIABLES:
		b.setVariables((*C.struct_retro_variable)(data))
	case C.RETRO_ENVIRONMENT_GET_VARIABLE:
		v := (*C.struct_retro_variable)(data)
		opt := b.optionByKey[C.GoString(v.key)]
		if opt == nil {
			v.value = nil
			return false
		}
		v.value = opt.cValue
	case C.RETRO_ENVIRONMENT_GET_VARIABLE_UPDATE:
		*(*C.bool)(data) = C.bool(b.optsChanged)
		b.optsChanged = false
	case C.RETRO_ENVIRONMENT_SET_SYSTEM_AV_INFO:
		b.av = *(*C.struct_retro_system_av_info)(data)
		b.avChanged = true
	case C.RETRO_ENVIRONMENT_SET_GEOMETRY:
		g := (*C.struct_retro_game_geometry)(data)
		b.av.geometry.base_width, b.av.geometry.base_height = g.base_width, g.base_height
		b.av.geometry.aspect_ratio = g.aspect_ratio
		b.geometry = true
	case C.RETRO_ENVIRONMENT_SET_CONTROLLER_INFO:
		infos := unsafe.Slice((*C.struct_retro_controller_info)(data), 16)
		for port := 0; port < 4 && infos[port].types != nil; port++ {
			types := unsafe.Slice(infos[port].types, infos[port].num_types)
			b.controllers[port] = b.controllers[port][:0]
			for _, t := range types {
				b.controllers[port] = append(b.controllers[port], uint(t.id))
			}
		}
	case C.RETRO_ENVIRONMENT_GET_LANGUAGE:
		*(*C.unsigned)(data) = C.RETRO_LANGUAGE_ENGLISH
	case C.RETRO_ENVIRONMENT_GET_INPUT_MAX_USERS:
		*(*C.unsigned)(data) = 4
	case C.RETRO_ENVIRONMENT_GET_AUDIO_VIDEO_ENABLE:
		if data != nil {
			*(*C.int)(data) = 3 // video and audio
		}
	case C.RETRO_ENVIRONMENT_GET_FASTFORWARDING:
		if data != nil {
			*(*C.bool)(data) = false
		}
	default:
		// Everything else (hardware rendering, core options v1/v2, which makes
		// cores fall back to v0, rumble, cameras…) is not offered.
		return false
	}
	return true
}

// setVariables takes core options v0: "Description; first|second|…", where
// the first value is the default.
func (b *binding) setVariables(v *C.struct_retro_variable) {
	for ; v != nil && v.key != nil; v = (*C.struct_retro_variable)(unsafe.Add(unsafe.Pointer(v), unsafe.Sizeof(*v))) {
		key := C.GoString(v.key)
		desc := C.GoString(v.value)
		_, list, ok := strings.Cut(desc, "; ")
		if !ok {
			list = desc
		}
		values := strings.Split(list, "|")
		opt := b.optionByKey[key]
		if opt == nil {
			opt = &coreOption{key: key}
			b.optionByKey[key] = opt
			b.options = append(b.options, opt)
		}
		opt.values = values
		value := values[0]
		if want, ok := b.overrides[key]; ok {
			for _, have := range values {
				if have == want {
					value = want
				}
			}
		}
		opt.set(value)
	}
	b.optsChanged = true
}

func (o *coreOption) set(value string) {
	if o.cValue != nil && o.value == value {
		return
	}
	o.value = value
	o.cValue = C.CString(value) // the core may keep the pointer; never freed (a few bytes per change)
}

// systemInfo is what retro_get_system_info says.
type systemInfo struct {
	Name         string   `json:"name"`
	Version      string   `json:"version"`
	Extensions   []string `json:"extensions"`
	NeedFullpath bool     `json:"needFullpath"`
	BlockExtract bool     `json:"blockExtract"`
}

// openCore dlopens path and reads its system info, without initialising it.
func openCore(path string) (systemInfo, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	if msg := C.cp_open(cpath); msg != nil {
		return systemInfo{}, errors.New(C.GoString(msg))
	}
	var si C.struct_retro_system_info
	C.cp_call_system_info(&si)
	info := systemInfo{
		Name:         C.GoString(si.library_name),
		Version:      C.GoString(si.library_version),
		NeedFullpath: bool(si.need_fullpath),
		BlockExtract: bool(si.block_extract),
	}
	for _, ext := range strings.Split(C.GoString(si.valid_extensions), "|") {
		if ext = strings.ToLower(strings.TrimSpace(ext)); ext != "" {
			info.Extensions = append(info.Extensions, ext)
		}
	}
	if info.Name == "" {
		return info, fmt.Errorf("is not a usable libretro core (it has no name)")
	}
	return info, nil
}
