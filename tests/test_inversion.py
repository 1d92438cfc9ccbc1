"""invert.py: projecting images into W / W+ (NVlabs' projector method), then editing them."""

import os
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import invert
import manipulate
from models import build_generator
from models.checkpoints import write_hf_biggan
from semantics import inversion, sampling
from semantics.vgg16 import VGG16Error, load_vgg16
from tests.clitools import assert_one_line_error, invoke, invoke_ok, printed
from tests.layouts import to_genforce_pggan
from utils.images import to_uint8


def small_generator(seed=0):
    """A small random StyleGAN2 whose images stay inside [-1, 1], like a trained model's (random ToRGB
    weights would clip most pixels, which no image to project has)."""
    torch.manual_seed(seed)
    G = build_generator('stylegan2', z_dim=32, w_dim=32, img_resolution=32, channel_base=256, channel_max=16,
                        mapping_layers=2).eval().requires_grad_(False)
    with torch.no_grad():
        for name, param in G.named_parameters():
            if name.endswith('torgb.weight'):
                param.mul_(0.2)
            elif name.endswith('noise_strength'):  # zero at initialisation: noise would change nothing
                param.fill_(0.05)
    return G


@pytest.fixture(scope='module')
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: one thread is faster, and runs are repeatable
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def model(tmp_path_factory, one_thread):
    """A small StyleGAN2 saved as a file, and a target image (a PNG) drawn from a known w."""
    folder = tmp_path_factory.mktemp('inversion')
    G = small_generator()
    torch.save(G.state_dict(), folder / 'g.pt')
    w = sampling.sample_ws(G, 1, 7, 0.7, None)[:, :1]  # a typical sample: truncated as the scripts draw them
    with torch.no_grad():
        target = G.synthesis(w.repeat(1, G.num_ws, 1))
    Image.fromarray(to_uint8(target)[0]).save(folder / 'target.png')
    return folder, G, w, target


@pytest.mark.slow
def test_a_generated_image_is_recovered_in_w(model):
    folder, G, w, target = model
    png = torch.from_numpy(np.array(Image.open(folder / 'target.png'))).permute(2, 0, 1)[None] / 127.5 - 1
    result = inversion.project(G, png, inversion.ProjectionSettings(steps=500))
    assert inversion.psnr(result.image, target) >= 30
    assert result.w.shape == (1, G.w_dim) and result.ws.shape == (1, G.num_ws, G.w_dim)
    assert torch.equal(result.ws, result.w[:, None].repeat(1, G.num_ws, 1))
    assert result.losses[-1] < result.losses[0] / 100
    again = inversion.project(G, png, inversion.ProjectionSettings(steps=500))
    assert torch.equal(again.w, result.w)  # deterministic for a seed
    other = inversion.project(G, target, inversion.ProjectionSettings(steps=20, seed=1))
    assert not torch.equal(other.w, inversion.project(G, target, inversion.ProjectionSettings(steps=20)).w)


def test_wp_and_noise_optimisation(model):
    _, G, _, target = model
    before = {name: buffer.clone() for name, buffer in G.noise_buffers().items()}
    result = inversion.project(G, target, inversion.ProjectionSettings(steps=60, space='wp', optimize_noise=True))
    assert result.w.shape == (1, G.num_ws, G.w_dim) and set(result.noise) == set(before)
    for name, value in result.noise.items():
        assert abs(float(value.mean())) < 1e-4 and abs(float(value.square().mean()) - 1) < 1e-3  # renormalised
        assert torch.equal(G.noise_buffers()[name], before[name])  # the model's own noise is back


@pytest.mark.slow
def test_invert_then_manipulate(model, tmp_path):
    folder, G, _, target = model
    result = invoke_ok(invert, [folder / 'g.pt', folder / 'target.png', '--steps', 500, '--save_dir', tmp_path / 'inv',
                                '--gif', '--vis_size', 64])
    run = printed(result, 'HTML page').parent
    label = run.name[:-len('_w_steps_500')]
    assert run.name.endswith('_w_steps_500') and label.startswith('target-') and len(label) == len('target-') + 8
    codes = np.load(run / 'latent_codes.npy')
    assert codes.shape == (1, G.num_ws, G.w_dim) and np.load(run / 'w.npy').shape == (1, G.w_dim)
    page = (run / 'inversion.html').read_text()
    psnr = float(page.split('PSNR ')[1].split(' dB')[0])
    assert psnr >= 30 and f'PSNR {psnr:.2f} dB' in result.output
    assert sorted(os.listdir(run)) == ['inversion.html', 'latent_codes.npy', 'run.json', f'{label}_progress.gif',
                                       f'{label}_projected.png', f'{label}_target.png', 'w.npy']
    # The codes render the reconstruction with the model's constant noise, and edit like any codes.
    with torch.no_grad():
        rendered = to_uint8(G.synthesis(torch.from_numpy(codes)))[0]
    assert np.array_equal(rendered, np.asarray(Image.open(run / f'{label}_projected.png')))
    np.save(tmp_path / 'd.npy', np.eye(G.w_dim, dtype=np.float32)[:1])
    edited = invoke_ok(manipulate, [folder / 'g.pt', tmp_path / 'd.npy', '--latent_path', run / 'latent_codes.npy',
                                    '--nums', 1, '--step', 3, '--save_dir', tmp_path / 'edit', '--no-gif'])
    assert np.array_equal(np.load(printed(edited, 'HTML page').parent / 'latent_codes.npy'), codes)


def test_any_image_size_is_resized_and_cropped(model, tmp_path):
    folder, G, _, target = model
    wide = Image.open(folder / 'target.png').resize((96, 64))
    wide.save(tmp_path / 'wide.png')
    result = invoke_ok(invert, [folder / 'g.pt', tmp_path / 'wide.png', '--steps', 5, '--save_dir', tmp_path / 'o'])
    assert 'wide.png: 96x64 resized to 48x32 and centre-cropped to 32x32' in result.output
    image, note = invert.read_target(tmp_path / 'wide.png', 32, 3)
    assert image.shape == (1, 3, 32, 32) and -1 <= image.min() and image.max() <= 1 and note


def test_two_sets_of_images_starting_alike_get_their_own_folders(model, tmp_path):
    folder = model[0]
    Image.open(folder / 'target.png').transpose(Image.FLIP_LEFT_RIGHT).save(tmp_path / 'flipped.png')
    pages = []
    for second in (tmp_path / 'flipped.png', folder / 'target.png'):
        result = invoke_ok(invert, [folder / 'g.pt', folder / 'target.png', second, '--steps', 2,
                                    '--save_dir', tmp_path / 'o'])
        assert 'replaced' not in result.output
        pages.append(printed(result, 'HTML page'))
    first, again = (page.parent for page in pages)
    assert first != again and first.name.startswith('2_images_target-') and again.name.startswith('2_images_target-')
    assert all(page.is_file() for page in pages)


def test_noise_of_a_projection_drives_manipulate(model, tmp_path):
    folder, G, _, _ = model
    result = invoke_ok(invert, [folder / 'g.pt', folder / 'target.png', '--steps', 30, '--optimize_noise',
                                '--space', 'wp', '--save_dir', tmp_path / 'inv'])
    run = printed(result, 'HTML page').parent
    noise = next(run.glob('*_noise.npz'))
    np.save(tmp_path / 'd.npy', np.eye(G.w_dim, dtype=np.float32)[:1])
    args = [folder / 'g.pt', tmp_path / 'd.npy', '--latent_path', run / 'latent_codes.npy', '--nums', 1, '--step', 3,
            '--no-gif']
    with_noise = invoke_ok(manipulate, args + ['--noise', noise, '--save_dir', tmp_path / 'a'])
    without = invoke_ok(manipulate, args + ['--save_dir', tmp_path / 'b'])
    pages = [printed(r, 'HTML page').read_text() for r in (with_noise, without)]
    assert pages[0] != pages[1]
    np.savez(tmp_path / 'bad.npz', nope=np.zeros(3))
    assert_one_line_error(invoke(manipulate, args + ['--noise', tmp_path / 'bad.npz', '--save_dir', tmp_path / 'c']),
                          '--noise', "'nope' is not one of this model's")


def vgg16_file(path, seed=0):
    """A VGG16 weight file in torchvision's layout (random weights: not the published file)."""
    generator = torch.Generator().manual_seed(seed)
    state, index, channels = {}, 0, 3
    for item in [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']:
        if item == 'M':
            index += 1
            continue
        state[f'features.{index}.weight'] = torch.randn(item, channels, 3, 3, generator=generator) * 0.05
        state[f'features.{index}.bias'] = torch.zeros(item)
        channels, index = item, index + 2
    torch.save(state, path)
    return path


def test_vgg16_distance(model, tmp_path):
    folder, _, _, _ = model
    path = vgg16_file(tmp_path / 'vgg16.pth')
    network, note = load_vgg16(path)
    assert 'not torchvision\'s published vgg16-397923af.pth' in note
    features = network(torch.zeros(1, 3, 32, 32))
    assert [f.shape[1] for f in features] == [64, 128, 256, 512, 512]
    result = invoke_ok(invert, [folder / 'g.pt', folder / 'target.png', '--steps', 5, '--vgg16', path,
                                '--save_dir', tmp_path / 'o'])
    assert 'Warning:' in result.output and printed(result, 'HTML page').parent.name.endswith('_w_steps_5_vgg16')
    with zipfile.ZipFile(tmp_path / 'script.pt', 'w') as archive:  # the shape of a TorchScript program
        archive.writestr('vgg16/code/__torch__.py', 'def forward(self, x): ...')
        archive.writestr('vgg16/constants.pkl', b'')
    with pytest.raises(VGG16Error, match='TorchScript program'):
        load_vgg16(tmp_path / 'script.pt')
    torch.save({'features.0.weight': torch.zeros(3)}, tmp_path / 'wrong.pth')
    with pytest.raises(VGG16Error, match='not VGG16 weights'):
        load_vgg16(tmp_path / 'wrong.pth')


def test_bad_inputs(model, tmp_path):
    folder, _, _, _ = model
    (tmp_path / 'text.png').write_text('not an image')
    pggan = build_generator('pggan', z_dim=16, img_resolution=16, channel_base=64, channel_max=8)
    torch.save({'generator_smooth': to_genforce_pggan(pggan.state_dict(), pggan.config)}, tmp_path / 'pggan.pt')
    (tmp_path / 'somedir').mkdir()
    image = folder / 'target.png'
    cases = [
        ([folder / 'g.pt', tmp_path / 'missing.png'], ['IMAGE', 'missing.png']),
        ([folder / 'g.pt', tmp_path / 'text.png'], ['IMAGE', 'text.png', 'not an image']),
        ([folder / 'g.pt', tmp_path / 'somedir'], ['IMAGE', 'somedir']),
        ([folder / 'g.pt', ''], ['IMAGE']),
        ([folder / 'g.pt', image, '--steps', 0], ['--steps']),
        ([folder / 'g.pt', image, '--space', 'z'], ['--space']),
        ([folder / 'g.pt', image, '--vgg16', tmp_path / 'nope.pth'], ['--vgg16', 'nope.pth']),
        ([folder / 'g.pt', image, '--vgg16', tmp_path / 'somedir'], ['--vgg16', 'somedir']),
        ([folder / 'g.pt'], ['IMAGE']),
    ]
    for args, fragments in cases:
        assert_one_line_error(invoke(invert, args + ['--save_dir', tmp_path / 'out']), *fragments)
    assert not (tmp_path / 'out').exists()
    result = invoke(invert, [tmp_path / 'pggan.pt', folder / 'target.png', '--save_dir', tmp_path / 'out'])
    assert_one_line_error(result, 'MODEL', 'pggan')
    biggan = build_generator('biggan', output_dim=16, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=5,
                             layers=[(False, 16, 8), (True, 8, 4), (False, 4, 2), (True, 2, 1)],
                             attention_layer_position=1)
    write_hf_biggan(biggan, tmp_path / 'biggan')
    assert_one_line_error(invoke(invert, [tmp_path / 'biggan', folder / 'target.png', '--save_dir', tmp_path / 'out']),
                          'MODEL', 'biggan')
    assert not (tmp_path / 'out').exists()


def target_of(result, name):
    """The target an invert.py run saved for the image file `name` (uint8 `[H, W, C]`)."""
    run = printed(result, 'HTML page').parent
    return np.asarray(Image.open(next(run.glob(f'{name}-*_target.png'))))


def test_deep_and_float_grey_images_are_scaled_to_8_bits(model, tmp_path):
    folder = model[0]
    levels = np.arange(32 * 32).reshape(32, 32) % 256  # every 8-bit level, no resizing (the model is 32x32)
    Image.fromarray((levels * 257).astype(np.uint16)).save(tmp_path / 'deep.png')
    Image.fromarray((levels / 255).astype(np.float32)).save(tmp_path / 'unit.tif')
    assert Image.open(tmp_path / 'deep.png').mode == 'I;16' and Image.open(tmp_path / 'unit.tif').mode == 'F'
    result = invoke_ok(invert, [folder / 'g.pt', tmp_path / 'deep.png', tmp_path / 'unit.tif', '--steps', 1,
                                '--save_dir', tmp_path / 'o'])
    for name in ('deep', 'unit'):
        assert np.array_equal(target_of(result, name), np.repeat(levels[:, :, None], 3, axis=2).astype(np.uint8))
    page = printed(result, 'HTML page').read_text()
    for note in ('deep.png: 16-bit grey scaled to 8 bits', 'unit.tif: float grey in [0, 1] scaled to 8 bits'):
        assert note in result.output and note in page
    # 32-bit integers in the 16-bit range, and floats in [0, 255], read alike.
    for array, note in [((levels * 257).astype(np.int32), '32-bit grey scaled'),
                        (levels.astype(np.float32), 'float grey in [0, 255] rounded')]:
        Image.fromarray(array).save(tmp_path / 'other.tif')
        image, said = invert.read_target(tmp_path / 'other.tif', 32, 1)
        assert torch.equal(image[0, 0], torch.from_numpy(levels).float() / 127.5 - 1) and note in said


def test_grey_values_without_an_8_bit_reading_are_refused(model, tmp_path):
    folder = model[0]
    cases = [(np.full((32, 32), np.nan, np.float32), 'NaN'), (np.full((32, 32), np.inf, np.float32), 'NaN'),
             (np.linspace(-0.5, 1, 32 * 32, dtype=np.float32).reshape(32, 32), '-0.5'),
             (np.full((32, 32), 300, np.float32), '300'), (np.full((32, 32), 70000, np.int32), '70000')]
    for index, (array, fragment) in enumerate(cases):
        Image.fromarray(array).save(tmp_path / f'bad{index}.tif')
        result = invoke(invert, [folder / 'g.pt', tmp_path / f'bad{index}.tif', '--save_dir', tmp_path / 'out'])
        assert_one_line_error(result, 'IMAGE', f'bad{index}.tif', fragment)
    assert not (tmp_path / 'out').exists()


def test_transparency_and_animations_are_noted(model, tmp_path):
    folder = model[0]
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:, 16:, 3] = 255  # black, transparent on the left half
    Image.fromarray(rgba).save(tmp_path / 'clear.png')
    frames = [Image.new('RGB', (32, 32), colour) for colour in ((200, 10, 10), (10, 10, 200), (10, 200, 10))]
    frames[0].save(tmp_path / 'anim.gif', save_all=True, append_images=frames[1:])
    result = invoke_ok(invert, [folder / 'g.pt', tmp_path / 'clear.png', tmp_path / 'anim.gif', '--steps', 1,
                                '--save_dir', tmp_path / 'o'])
    clear, anim = target_of(result, 'clear'), target_of(result, 'anim')
    assert (clear[:, :16] == 255).all() and (clear[:, 16:] == 0).all()  # composited onto white
    assert np.abs(anim.astype(int) - (200, 10, 10)).max() <= 8  # the first frame (GIF palette: nearly exact)
    page = printed(result, 'HTML page').read_text()
    for note in ('clear.png: transparent pixels composited onto white', 'anim.gif: first of 3 frames used'):
        assert note in result.output and note in page
