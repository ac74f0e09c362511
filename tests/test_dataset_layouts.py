"""load_dataset on tiny fake copies of each data set's official folder layout."""

import numpy as np
import pytest
from _audio_fixtures import write_tone

from sklearn_audioconcepts.datasets import load_dataset


def _tones(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        write_tone(folder / name, 200.0 + 30 * i, seconds=0.05)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_esc50(tmp_path):
    _write(
        tmp_path / "meta" / "esc50.csv",
        "filename,fold,target,category,esc10,src_file,take\n"
        "1-100032-A-0.wav,1,0,dog,True,100032,A\n"
        "1-100038-A-14.wav,1,14,chirping_birds,False,100038,A\n"
        "2-100648-A-43.wav,2,43,car_horn,False,100648,A\n",
    )
    _tones(tmp_path / "audio", ["1-100032-A-0.wav", "1-100038-A-14.wav",
                                "2-100648-A-43.wav"])  # fmt: skip
    data = load_dataset(tmp_path, "esc50")
    assert data.paths[0] == str(tmp_path / "audio" / "1-100032-A-0.wav")
    assert data.labels == ["dog", "chirping_birds", "car_horn"]
    np.testing.assert_array_equal(data.target, [0, 14, 43])  # the official ids
    assert data.target_names[14] == "chirping_birds" and len(data.target_names) == 44
    np.testing.assert_array_equal(data.folds, [1, 1, 2])
    np.testing.assert_array_equal(data.groups, [100032, 100038, 100648])
    assert data.splits is None and data.captions is None and len(data.frame) == 3


def test_urbansound8k(tmp_path):
    _write(
        tmp_path / "metadata" / "UrbanSound8K.csv",
        "slice_file_name,fsID,start,end,salience,fold,classID,class\n"
        "100032-3-0-0.wav,100032,0.0,0.317551,1,5,3,dog_bark\n"
        "100263-2-0-117.wav,100263,58.5,62.5,1,5,2,children_playing\n"
        "101415-3-0-2.wav,101415,1.0,5.0,1,1,3,dog_bark\n",
    )
    _tones(tmp_path / "audio" / "fold5", ["100032-3-0-0.wav", "100263-2-0-117.wav"])
    _tones(tmp_path / "audio" / "fold1", ["101415-3-0-2.wav"])
    data = load_dataset(tmp_path, "urbansound8k")
    assert data.paths[2] == str(tmp_path / "audio" / "fold1" / "101415-3-0-2.wav")
    assert data.labels == ["dog_bark", "children_playing", "dog_bark"]
    np.testing.assert_array_equal(data.target, [3, 2, 3])
    np.testing.assert_array_equal(data.folds, [5, 5, 1])
    np.testing.assert_array_equal(data.groups, [100032, 100263, 101415])


def test_dcase2017_task4_weak_labels_are_multi_label(tmp_path):
    meta = tmp_path / "metadata"
    _write(
        meta / "training_set.csv",
        '-5QrBL6MzLg,60.000,70.000,"Train horn,Train","/m/0284vy3,/m/07jdr"\n'
        '-BJ5Lxw0pCk,10.000,20.000,"Fire engine, fire truck (siren)",/m/012n7d\n',
    )
    _write(meta / "testing_set.csv", "-1dRkHnYvEs,30.000,40.000,Car,/m/0k4j\n")
    _write(
        meta / "groundtruth_weak_label_evaluation_set.csv",
        "-JMT0mK0Dbg_30.000_40.000.wav\t30.000\t40.000\tTrain horn\n"
        "-JMT0mK0Dbg_30.000_40.000.wav\t30.000\t40.000\tCar\n",
    )
    _tones(tmp_path / "training", ["Y-5QrBL6MzLg_60.000_70.000.wav",
                                   "Y-BJ5Lxw0pCk_10.000_20.000.wav"])  # fmt: skip
    _tones(tmp_path / "testing", ["Y-1dRkHnYvEs_30.000_40.000.wav"])
    _tones(tmp_path / "evaluation", ["Y-JMT0mK0Dbg_30.000_40.000.wav"])
    data = load_dataset(tmp_path, "dcase2017_task4")
    assert data.labels == [
        ["Train horn", "Train"],
        ["Fire engine, fire truck (siren)"],
        ["Car"],
        ["Train horn", "Car"],
    ]
    assert list(data.splits) == ["training", "training", "testing", "evaluation"]
    assert data.paths[3].endswith("evaluation/Y-JMT0mK0Dbg_30.000_40.000.wav")
    assert data.target.shape == (4, 4) and data.target.sum() == 6
    column = data.target_names.index("Car")
    np.testing.assert_array_equal(data.target[:, column], [0, 0, 1, 1])
    testing = load_dataset(tmp_path, "dcase2017_task4", split="testing")
    assert testing.labels == [["Car"]]


def test_audioset_matches_downloaded_files_and_skips_missing(tmp_path):
    _write(
        tmp_path / "class_labels_indices.csv",
        'index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/05zppz,"Male speech, '
        'man speaking"\n2,/m/0k4j,"Car"\n',
    )
    header = (
        "# Segments csv created Sun Mar  5 10:54:31 2017\n"
        "# num_ytids=3, num_segs=3, num_unique_labels=3, num_positive_labels=4\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n"
    )
    _write(
        tmp_path / "balanced_train_segments.csv",
        header + '--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/m/05zppz"\n'
        '--ZhevVpy1s, 50.000, 60.000, "/m/0k4j"\n',
    )
    _write(
        tmp_path / "eval_segments.csv",
        header + '--4gqARaEJE, 0.000, 10.000, "/m/0k4j"\n',
    )
    _tones(tmp_path / "audio" / "balanced", ["Y--PJHxphWEs_30.000_40.000.wav"])
    _tones(tmp_path / "audio" / "eval", ["--4gqARaEJE.wav"])
    with pytest.raises(FileNotFoundError, match=r"1 of 3 audio files.*--ZhevVpy1s"):
        load_dataset(tmp_path, "audioset")
    data = load_dataset(tmp_path, "audioset", missing_audio="skip")
    assert data.labels == [["Speech", "Male speech, man speaking"], ["Car"]]
    assert list(data.splits) == ["balanced_train", "eval"]
    assert data.paths[1] == str(tmp_path / "audio" / "eval" / "--4gqARaEJE.wav")
    assert data.target_names == ["Speech", "Male speech, man speaking", "Car"]
    np.testing.assert_array_equal(data.target, [[1, 1, 0], [0, 0, 1]])
    assert list(data.frame["YTID"]) == ["--PJHxphWEs", "--4gqARaEJE"]
    with pytest.raises(FileNotFoundError, match="unbalanced_train_segments.csv"):
        load_dataset(tmp_path, "audioset", split="unbalanced_train")


def test_vocalsound_splits_by_speaker(tmp_path):
    _write(tmp_path / "meta" / "tr_meta.csv", "f0003,Female,25,China,Chinese,None\n")
    _write(tmp_path / "meta" / "val_meta.csv", "m0004,Male,33,USA,English,None\n")
    _write(tmp_path / "meta" / "te_meta.csv", "f0007,Female,41,India,Hindi,Asthma\n")
    files = ["f0003_0_cough.wav", "f0003_0_throatclearing.wav",
             "m0004_0_laughter.wav", "f0007_1_sneeze.wav"]  # fmt: skip
    _tones(tmp_path / "audio_16k", files)
    data = load_dataset(tmp_path, "vocalsound")
    assert data.labels == ["cough", "throat clearing", "sneeze", "laughter"]
    assert list(data.splits) == ["train", "train", "test", "validation"]
    assert list(data.groups) == ["f0003", "f0003", "f0007", "m0004"]
    assert data.frame.loc[2, "health_condition"] == "Asthma"
    test = load_dataset(tmp_path, "vocalsound", split="test")
    assert test.paths == [str(tmp_path / "audio_16k" / "f0007_1_sneeze.wav")]


def test_tut2017_folds_from_the_evaluation_setup(tmp_path):
    _write(
        tmp_path / "meta.txt",
        "audio/b020_90_100.wav\tbeach\tb020\n"
        "audio/a001_10_20.wav\tresidential_area\ta001\n"
        "audio/c003_0_10.wav\tcafe/restaurant\tc003\n",
    )
    _write(
        tmp_path / "evaluation_setup" / "fold1_evaluate.txt",
        "audio/b020_90_100.wav\tbeach\n",
    )
    _write(
        tmp_path / "evaluation_setup" / "fold2_evaluate.txt",
        "audio/a001_10_20.wav\tresidential_area\naudio/c003_0_10.wav\tcafe/restaurant\n",
    )
    _tones(tmp_path / "audio", ["b020_90_100.wav", "a001_10_20.wav", "c003_0_10.wav"])
    data = load_dataset(tmp_path, "tut2017")
    assert data.labels == ["beach", "residential_area", "cafe/restaurant"]
    np.testing.assert_array_equal(data.folds, [1, 2, 2])
    assert list(data.groups) == ["b020", "a001", "c003"]
    assert data.target_names == ["beach", "cafe/restaurant", "residential_area"]
    np.testing.assert_array_equal(data.target, [0, 2, 1])


def test_clotho_captions(tmp_path):
    captions = ",".join(f"caption_{i}" for i in range(1, 6))
    _write(
        tmp_path / "clotho_captions_development.csv",
        f"file_name,{captions}\n"
        '"Distorted AM Radio noise.wav",a radio hums,static crackles,a buzz,'
        'noise,"a radio, tuned off"\n',
    )
    _write(
        tmp_path / "clotho_captions_evaluation.csv",
        f"file_name,{captions}\nrain.wav,rain falls,it rains,drops,water,a storm\n",
    )
    _tones(tmp_path / "development", ["Distorted AM Radio noise.wav"])
    _tones(tmp_path / "evaluation", ["rain.wav"])
    data = load_dataset(tmp_path, "clotho")
    assert data.paths[0] == str(
        tmp_path / "development" / "Distorted AM Radio noise.wav"
    )
    assert data.captions[0][4] == "a radio, tuned off" and len(data.captions[1]) == 5
    assert list(data.splits) == ["development", "evaluation"]
    assert data.labels is None and data.target is None


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("esc50", "esc50.csv"),
        ("urbansound8k", "UrbanSound8K.csv"),
        ("dcase2017_task4", "training_set.csv"),
        ("audioset", "class_labels_indices.csv"),
        ("vocalsound", "tr_meta.csv"),
        ("tut2017", "meta.txt"),
        ("clotho", "clotho_captions_development.csv"),
    ],
)
def test_missing_metadata_is_named(layout, expected, tmp_path):
    with pytest.raises(FileNotFoundError, match=expected):
        load_dataset(tmp_path, layout)


def test_bad_arguments_and_damaged_metadata(tmp_path):
    with pytest.raises(ValueError, match="Unknown layout 'esc-50'"):
        load_dataset(tmp_path, "esc-50")
    with pytest.raises(ValueError, match="no splits"):
        load_dataset(tmp_path, "esc50", split="train")
    with pytest.raises(FileNotFoundError, match="Data set folder not found"):
        load_dataset(tmp_path / "nowhere", "esc50")
    meta = tmp_path / "meta" / "esc50.csv"
    _write(meta, "filename,fold\n1.wav,1\n")
    with pytest.raises(ValueError, match=r"ESC-50 metadata '.*esc50.csv'.*category"):
        load_dataset(tmp_path, "esc50")
    _write(tmp_path / "meta.txt", "audio/a.wav\n")
    with pytest.raises(ValueError, match=r"meta.txt'.*row 1 has 1 field"):
        load_dataset(tmp_path, "tut2017")
    _write(
        meta,
        "filename,fold,target,category,esc10,src_file,take\n1-1-A-0.wav,1,0,dog,True,1,A\n",
    )
    with pytest.raises(FileNotFoundError, match=r"1 of 1 audio files.*1-1-A-0.wav"):
        load_dataset(tmp_path, "esc50")
    skipped = load_dataset(tmp_path, "esc50", missing_audio="skip")
    assert skipped.paths == [] and len(skipped.frame) == 0
